"""`pactjury view`: a local web app over the store to review the jury's work and label verdicts (harness/view/app.py)."""
