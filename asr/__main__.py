from asr.cli import console

console()
