"""The python target the imported promptfoo suite runs against (tests/test_importers.py): a phrase book."""

import json

PHRASES = {
    ("French", "Hello world"): "Bonjour le monde",
    ("German", "How's it going?"): "Wie geht's?",
    ("Spanish", "Good morning"): "Buenos días",
    ("Italian", "Thank you"): "Grazie",
    ("Portuguese", "Thank you"): "Obrigado",
}


def respond(case):
    text = case["input"] if isinstance(case["input"], str) else case["messages"][-1]["content"]
    head, _, phrase = text.partition(": ")
    language = head.rsplit(" ", 1)[-1]
    if language == "JSON":
        return {"output": json.dumps({"translation": "yes"})}
    return {"output": PHRASES.get((language, phrase), "?")}
