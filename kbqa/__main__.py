from kbqa.cli import entry

entry()
