"""A person in a real browser (Debian's Chromium through Playwright): upload a recording, clone, edit
twice, compare, rate, export, reload, switch to 中文. Screenshots go to test-artifacts/ui/."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import require
from ui_support import MAX_NEW_TOKENS, SEEDS, serve_studio, studio_settings

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"
TABS_EN = ("Clone", "Edit", "Speed", "Denoise", "Silence (VAD)", "History & Compare", "Settings")
TABS_ZH = ("克隆", "编辑", "语速", "降噪", "静音 (VAD)", "历史与对比", "设置")
MODEL_WAIT_MS = 180_000

# Done when the take's details name the new take (tiny takes can be identical audio), or on an error.
FINISHED_JS = """([selector, take]) => {
  const shown = (document.querySelector(selector)?.innerText ?? '').includes(`"${take}"`);
  const errors = [...document.querySelectorAll('.toast-body')].filter((e) => e.innerText.includes('Error'));
  return shown || errors.length > 0;
}"""


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.is_file(), "Debian package chromium")
    try:
        from playwright import sync_api
    except ImportError:
        require(False, "the playwright package from requirements-test.txt")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory, tiny_model_dir, examples):
    settings = studio_settings(tmp_path_factory.mktemp("ui-browser") / "data", tiny_model_dir, examples)
    with serve_studio(settings) as (url, _):
        yield url


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def upload(page, selector: str, path: Path) -> None:
    page.locator(f"{selector} input[type=file]").set_input_files(str(path))
    page.locator(f"{selector} a.download-link").first.wait_for(state="attached")


def run_model(page, prefix: str, take: str, shot: str) -> None:
    """Press the page's run button, trying seeds until the tiny model makes some audio; then wait
    until the pages are refreshed with the new take."""
    for seed in SEEDS:
        page.locator(f"#{prefix}-seed input").fill(str(seed))
        page.locator(f"#{prefix}-run").click()
        try:
            page.wait_for_function(FINISHED_JS, arg=[f"#{prefix}-details", take], timeout=MODEL_WAIT_MS)
        except Exception:
            page.screenshot(path=ARTIFACTS / f"{shot}-timeout.png", full_page=True)
            raise
        errors = page.locator(".toast-body", has_text="Error").all_inner_texts()
        if not errors:
            page.screenshot(path=ARTIFACTS / f"{shot}.png", full_page=True)
            open_tab(page, "History & Compare")  # tabs mount lazily: the table exists once shown
            wait_for_takes(page, take)
            return
        assert all("The model produced no" in e for e in errors), errors
        for close in page.locator(".toast-close").all():
            close.click()
    raise AssertionError(f"no seed gave audio on the {prefix} page")


def wait_for_takes(page, *texts: str) -> None:
    page.wait_for_function(
        "(texts) => texts.every((t) => (document.querySelector('#history-table')?.innerText ?? '').includes(t))",
        arg=list(texts),
    )


def choose(page, selector: str, option: str) -> None:
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=option).first.click()


def test_a_reviewer_session(browser, studio_url, artifacts, examples):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.goto(studio_url)
    page.get_by_text("Model not loaded").wait_for()
    for name in TABS_EN:  # all seven tabs fit at 1280 px: none hides in an overflow menu
        page.get_by_role("tab", name=name, exact=True).wait_for(timeout=10_000)
    page.screenshot(path=artifacts / "01-clone-empty.png", full_page=True)

    open_tab(page, "Settings")
    # The page has restored this browser's workspace and its defaults once the workspace id shows.
    page.wait_for_function("() => document.querySelector('#workspace-id textarea')?.value.length > 8")
    page.locator("#settings-max-new-tokens input").fill(str(MAX_NEW_TOKENS))
    page.locator("#settings-save").click()
    page.get_by_text("Saved.").first.wait_for()

    # Clone from an uploaded real recording.
    prompt = examples["zero_shot_en_prompt"]
    open_tab(page, "Clone")
    upload(page, "#clone-prompt", prompt.path)
    page.locator("#clone-prompt-text textarea").fill(prompt.text)
    page.locator("#clone-text textarea").fill("Hello there, how are you?")
    run_model(page, "clone", "t2", "02-cloned")

    # Edit 1: an uploaded recording made happier in two passes.
    recording = examples["en_happy_prompt"]
    open_tab(page, "Edit")
    page.locator("#edit-source label", has_text="Upload or record").click()
    upload(page, "#edit-upload", recording.path)
    page.locator("#edit-input-text textarea").fill(recording.text)
    page.locator("#edit-mode label", has_text="Emotion").click()
    run_model(page, "edit", "t4", "03-edit-emotion")

    # Continue from the recording (branch), then edit 2: whispered style, with a tag chip tried out.
    choose(page, "#history-pick", "t3 · Upload")
    page.locator("#history-branch").click()
    page.get_by_text("Continuing from take t3").first.wait_for()
    open_tab(page, "Edit")
    page.locator("#edit-mode label", has_text="Paralinguistic").click()
    box = page.locator("#para-text textarea")
    box.fill("Hello world")
    box.evaluate("(el) => el.setSelectionRange(5, 5)")
    page.get_by_role("button", name="[Laughter] laugh").click()
    page.wait_for_function("() => document.querySelector('#para-text textarea').value === 'Hello[Laughter] world'")
    page.locator("#edit-mode label", has_text="Style").click()
    run_model(page, "edit", "t5", "04-edit-style")

    # History: A/B compare the prompt with the recording, rate a take, export everything.
    open_tab(page, "History & Compare")
    wait_for_takes(page, "t5 ▶ current")
    choose(page, "#compare-a", "t1 · Voice prompt")
    choose(page, "#compare-b", "t3 · Upload")
    page.locator("#compare-run").click()
    page.locator("#compare-measures").get_by_text("Speaker similarity A↔B").wait_for(timeout=MODEL_WAIT_MS)
    assert page.locator("#compare-player-a a.download-link").count() == 1
    assert page.locator("#compare-player-b a.download-link").count() == 1
    choose(page, "#history-pick", "t4 · Emotion")
    page.locator("#history-rating label").nth(3).click()
    page.locator("#history-note textarea").fill("warmer, keeps the words")
    page.locator("#history-rate").click()
    page.get_by_text("Rating saved for take t4").first.wait_for()
    page.locator("#history-export").click()
    link = page.locator("#history-export-file a").first
    link.wait_for()
    archive = zipfile.ZipFile(io.BytesIO(page.request.get(link.get_attribute("href")).body()))
    manifest = json.loads(archive.read("manifest.json"))
    ops = {t["id"]: (t["operation"], t["parent"]) for t in manifest["takes"]}
    assert ops == {"t1": ("prompt", None), "t2": ("clone", "t1"), "t3": ("upload", None), "t4": ("emotion", "t3"),
                   "t5": ("style", "t3")}  # fmt: skip
    assert (
        "t4,t3,emotion" in archive.read("ratings.csv").decode()
        and "warmer, keeps the words" in archive.read("ratings.csv").decode()
    )
    assert len([n for n in archive.namelist() if n.startswith("audio/")]) == 5
    page.screenshot(path=artifacts / "05-history-compare.png", full_page=True)

    # A reload finds the same workspace with every take and the rating.
    page.reload()
    open_tab(page, "History & Compare")
    wait_for_takes(page, "t1", "t5 ▶ current", "★★★★☆")

    # 中文: tabs, labels and tag names switch; the choice survives a reload.
    page.locator("#studio-lang label", has_text="中文").click()
    for name in TABS_ZH:
        page.get_by_role("tab", name=name, exact=True).wait_for()
    open_tab(page, "克隆")
    page.get_by_text("参考音频（上传或录音）").first.wait_for()
    open_tab(page, "编辑")
    page.locator("#edit-mode label", has_text="副语言声音").click()
    page.get_by_role("button", name="[Laughter] 笑声").wait_for()
    page.screenshot(path=artifacts / "06-edit-zh.png", full_page=True)
    page.reload()
    for name in TABS_ZH:
        page.get_by_role("tab", name=name, exact=True).wait_for()
    open_tab(page, "历史与对比")
    wait_for_takes(page, "t5 ▶ 当前", "上传", "情感")
    page.screenshot(path=artifacts / "07-history-zh.png", full_page=True)
    context.close()
