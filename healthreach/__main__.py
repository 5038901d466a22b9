"""python -m healthreach"""
from healthreach.cli import main

main()
