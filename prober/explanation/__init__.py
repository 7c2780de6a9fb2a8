"""What a reply means: the catalogue as data, the explainer, bounce messages."""
