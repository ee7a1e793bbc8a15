"""Drive the web demo in headless Chromium: its browser tests and the README's screenshots.

Chromium is Debian's ``chromium`` + ``chromium-driver`` packages (``apt-get install
chromium chromium-driver``; nothing downloads a browser), driven by Selenium.
The camera is Chromium's fake capture device playing a synthetic clip written as
YUV4MPEG2 (``write_y4m``), so the live path runs without a camera.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 120  # first recognitions compile the models (tens of seconds on 2 cores)


class BrowserUnavailable(RuntimeError):
    """No Chromium / chromedriver on this machine."""


def find_chromium() -> tuple[str, str]:
    """(the browser, its driver) on PATH, or BrowserUnavailable saying how to install them."""
    browser = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        raise BrowserUnavailable(
            "headless Chromium not found: apt-get install chromium chromium-driver"
        )
    return browser, driver


def write_y4m(path: str | os.PathLike, rgb: np.ndarray, fps: float) -> str:
    """rgb uint8 [T, H, W, 3] (even H, W) -> a YUV4MPEG2 (4:2:0) file, the format of
    Chromium's ``--use-file-for-fake-video-capture``."""
    import cv2

    t, h, w, _ = rgb.shape
    if h % 2 or w % 2:
        raise ValueError(f"Y4M 4:2:0 needs even frame sizes, got {h}x{w}")
    rate = f"{round(fps * 1000)}:1000"
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{rate} Ip A1:1 C420jpeg\n".encode())
        for frame in rgb:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return str(path)


def chromium(fake_video: str | None = None, size: tuple[int, int] = (1280, 1500)):
    """A headless Chromium WebDriver; ``fake_video`` (a .y4m) is its camera."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    args = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
            f"--window-size={size[0]},{size[1]}", "--use-fake-ui-for-media-stream"]  # fmt: skip
    for arg in args:
        options.add_argument(arg)
    if fake_video:
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument(f"--use-file-for-fake-video-capture={os.path.abspath(fake_video)}")
    return webdriver.Chrome(options=options, service=Service(driver))


def _wait(driver, until, what: str, timeout: float = TIMEOUT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: until(d))
    except Exception as e:
        raise TimeoutError(f"the demo page did not show {what} within {timeout:.0f} s") from e


def _css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def open_tab(driver, name: str) -> None:
    tab = _wait(driver, lambda d: [b for b in _css(d, "button[role=tab]") if b.text == name],
                f"the {name} tab")  # fmt: skip
    tab[0].click()


def recognise_sample(driver, url: str, index: int = 0) -> str:
    """Clip tab: pick sample clip ``index``, press Recognise -> the glosses shown."""
    driver.get(url)
    labels = _wait(driver, lambda d: _css(d, "#samples label"), "the sample clips")
    labels[index].click()
    _wait(driver, lambda d: _css(d, "#video-in video"), "the sample video")
    _css(driver, "#recognise")[0].click()
    text = _wait(
        driver,
        lambda d: [t.get_attribute("value") for t in _css(d, "#glosses textarea")][0],
        "glosses",
    )
    _wait(driver, lambda d: _css(d, "#skeleton img"), "the skeleton")
    return text


def live_camera(driver, url: str, min_glosses: int = 1) -> tuple[str, str]:
    """Live tab: start the (fake) camera -> (glosses emitted while it streams, status)."""
    driver.get(url)
    open_tab(driver, "Live")

    def button(label: str):
        return lambda d: [b for b in _css(d, "#camera button") if label in b.text]

    _wait(driver, button("Access Webcam"), "the camera button")[0].click()
    record = _wait(driver, button("Record"), "the record button")
    record[0].click()

    def glosses(d):
        bold = _css(d, "#live-text b")
        return bold and len(bold[0].text.split()) >= min_glosses and bold[0].text

    text = _wait(driver, glosses, f"{min_glosses} live gloss(es)")
    status = _css(driver, "#live-status textarea")[0].get_attribute("value")
    return text, status


def play_sample(driver, url: str, index: int = 0) -> str:
    """Live tab: play sample clip ``index`` -> the glosses emitted when it ends."""
    driver.get(url)
    open_tab(driver, "Live")
    labels = _wait(driver, lambda d: _css(d, "#live-samples label"), "the sample clips")
    labels[index].click()
    _css(driver, "#play")[0].click()
    _wait(driver, lambda d: "done" in (_status(d) or ""), "the end of the clip")
    return _css(driver, "#live-text b")[0].text


def _status(driver) -> str | None:
    boxes = _css(driver, "#live-status textarea")
    return boxes[0].get_attribute("value") if boxes else None


def screenshots(demo, url: str, out_dir: str) -> list[str]:
    """The README's two screenshots: a sample clip recognised, the camera streaming live."""
    import tempfile

    os.makedirs(out_dir, exist_ok=True)
    clip = demo.samples[1 if len(demo.samples) > 1 else 0]
    rgb, fps = _sample_frames(clip["path"])
    fake = write_y4m(os.path.join(tempfile.mkdtemp(), "camera.y4m"), _upscale(rgb), fps)
    driver = chromium(fake_video=fake)
    written = []
    try:
        recognise_sample(driver, url, demo.samples.index(clip))
        time.sleep(1.0)
        written.append(os.path.join(out_dir, "demo_clip.png"))
        driver.save_screenshot(written[-1])
        live_camera(driver, url, min_glosses=2)
        written.append(os.path.join(out_dir, "demo_live.png"))
        driver.save_screenshot(written[-1])
    finally:
        driver.quit()
    return written


def _sample_frames(path: str) -> tuple[np.ndarray, float]:
    from signx_jax.recognize import read_frames

    return read_frames(path, fps=25.0)


def _upscale(rgb: np.ndarray, size: int = 256) -> np.ndarray:
    """A camera-sized copy of small synthetic frames (the demo crops and resizes back)."""
    import cv2

    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_NEAREST) for f in rgb])
