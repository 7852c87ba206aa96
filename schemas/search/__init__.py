"""Search vocabulary shared by the API and the tools: skill aliases (:mod:`.synonyms`)."""
