"""A picture of a run's interactive `map.html` with one region clicked (for the README).

    python docs/screenshot_html_map.py runs/demo g5_5 docs/img/html_map.png

Needs playwright (the dev extra) and a chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(run: Path, region: str, out: Path) -> None:
    exe = next((p for n in ("chromium", "chromium-browser", "google-chrome")
                if (p := shutil.which(n))), None)
    if exe is None:
        sys.exit("no chromium browser found")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto((run / "map.html").resolve().as_uri())
            page.click(f'path.r[data-id="{region}"]')
            page.screenshot(path=str(out))
        finally:
            browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
