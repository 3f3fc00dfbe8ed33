"""The dialogue engine: NLU (search, answer extraction), questionnaire policy and state."""
