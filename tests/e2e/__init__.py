"""Browser tests: JupyterLab and the sign-in page in headless Chromium (run by `make e2e`)."""
