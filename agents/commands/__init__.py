"""The ``adagen`` commands, one module each: what a command does once its flags are parsed."""
