#!/usr/bin/env python3
"""
A still of the demo recording: replays an asciinema v2 cast (docs/demo.cast) in pyte, a terminal
emulator (PyPI: pyte), keeps the last whole frame (the end of a synchronized update, as the terminal
shows it) whose text contains MUST and not MUSTNOT, and writes it as a static SVG with every
character in its column (svg-term's animation collapses the spaces inside the highlighted row).
docs/record-demo.sh turns it into docs/demo.png with rsvg-convert (Debian: librsvg2-bin).
Usage: demo-still.py CAST OUT.svg MUST MUSTNOT. Colours: svg-term's palette; dim text is not drawn dim.
"""
import html
import json
import sys

try:
    import pyte
except ImportError:
    sys.exit('demo-still.py needs pyte: pip install pyte (or PYTHONPATH=DIR after pip install --target DIR pyte)')
cast, out, must, mustnot = sys.argv[1:5]
lines = open(cast).read().splitlines()
head = json.loads(lines[0]); W, H = head['width'], head['height']
screen = pyte.Screen(W, H); stream = pyte.Stream(screen)
best = None
for l in lines[1:]:
    t, kind, data = json.loads(l)
    if kind != 'o': continue
    stream.feed(data)
    if '\x1b[?2026l' not in data: continue  # only whole frames (the end of a synchronized update)
    text = '\n'.join(screen.display)
    if must in text and mustnot not in text:
        best = (t, [[screen.buffer[y][x] for x in range(W)] for y in range(H)])
if best is None:
    sys.exit(f'no frame of {cast} shows {must!r} without {mustnot!r}')
t, buf = best
FG, BG = '#b9c0cb', '#282d35'
PALETTE = {'black': '#282d35', 'red': '#e88388', 'green': '#a8cc8c', 'brown': '#dbab79', 'yellow': '#dbab79',
           'blue': '#71bef2', 'magenta': '#d290e4', 'cyan': '#66c2cd', 'white': '#b9c0cb',
           'brightblack': '#6f7783', 'brightred': '#e88388', 'brightgreen': '#a8cc8c', 'brightbrown': '#dbab79',
           'brightyellow': '#dbab79', 'brightblue': '#73bef3', 'brightmagenta': '#d290e3', 'brightcyan': '#66c2cd', 'brightwhite': '#ffffff'}
def col(c, default):
    if c == 'default': return default
    if len(c) == 6 and all(ch in '0123456789abcdefABCDEF' for ch in c): return '#' + c
    return PALETTE.get(c, default)
def style(c):
    fg, bg = col(c.fg, FG), col(c.bg, BG)
    if c.reverse: fg, bg = bg, fg
    return (fg, bg, c.bold)
CW, CH, PAD, TOP = 9.0, 19.0, 14, 34
width = int(PAD * 2 + CW * W); height = int(TOP + PAD + CH * H)
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
         f'<rect width="{width}" height="{height}" rx="6" fill="{BG}"/>',
         '<circle cx="20" cy="17" r="6" fill="#ff5f58"/><circle cx="40" cy="17" r="6" fill="#ffbd2e"/><circle cx="60" cy="17" r="6" fill="#18c132"/>',
         '<g font-family="DejaVu Sans Mono" font-size="15" xml:space="preserve">']
for y, row in enumerate(buf):
    x = 0
    while x < W:
        key = style(row[x]); x0 = x; run = ''
        while x < W and style(row[x]) == key:
            run += row[x].data or ' '; x += 1
        fg, bg, bold = key
        px, py = PAD + x0 * CW, TOP + y * CH
        if bg != BG:
            parts.append(f'<rect x="{px:.1f}" y="{py:.1f}" width="{CW * len(run):.1f}" height="{CH}" fill="{bg}"/>')
        if run.strip():
            weight = ' font-weight="bold"' if bold else ''
            parts.append(f'<text x="{px:.1f}" y="{py + 14.5:.1f}" fill="{fg}"{weight} textLength="{CW * len(run):.1f}" lengthAdjust="spacing">{html.escape(run)}</text>')
parts.append('</g></svg>')
open(out, 'w').write('\n'.join(parts))
print(f'{out}: the screen at {t:.1f} s of {cast}')
