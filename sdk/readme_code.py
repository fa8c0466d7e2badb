#!/usr/bin/env python3
"""Prints the fenced code blocks of one language from a README (stdlib only), so CI runs the
quick starts exactly as users read them.

usage: readme_code.py README.md LANG
"""
import re
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(rf"^```{re.escape(sys.argv[2])}\n(.*?)^```$", text, re.S | re.M)
if not blocks:
    sys.exit(f"readme_code: no ```{sys.argv[2]} block in {sys.argv[1]}")
print("\n".join(blocks), end="")
