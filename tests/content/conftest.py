"""Lets the content tests import the harness modules that sit next to them."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
