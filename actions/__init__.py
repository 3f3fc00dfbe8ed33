"""rasa-sdk custom actions (served by `python -m rasa_sdk --actions actions`)."""
from .actions import (  # noqa: F401  (the action server registers every Action subclass it imports)
    ActionAskSituationAnswer,
    ActionBuildChecklist,
    ActionIdentifyScenario,
    ActionLookupMatter,
    ActionYiciTurn,
    ValidateSituationForm,
)
