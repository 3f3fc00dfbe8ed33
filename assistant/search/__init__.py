"""Finding scenarios and single matters from what people actually say."""
