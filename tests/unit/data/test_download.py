"""core.data.download against a local mirror (127.0.0.1) serving each publisher's layout in miniature."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from core.cli import main
from core.data import BENCHMARKS, load_items
from core.data.download import DownloadFailed, data_dir, dataset_status, download, source_rows
from core.data.manifest import MANIFEST, read_manifest
from core.data.sources import IMAGENET_C_FAMILIES, PUBLISHER, SOURCES, mirror_url
from core.errors import UserError

from tests.unit.data import mirror as mini


@pytest.fixture
def server(monkeypatch, tmp_path):
    served = mini.Mirror()
    monkeypatch.setenv("BAE_DATA_MIRROR", served.url)
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BAE_DOWNLOAD_TIMEOUT", "5")
    yield served
    served.close()


def _serve(server, monkeypatch, name: str) -> dict[str, bytes]:
    """Serve the tiny copy of `name` and point its entry at it (sizes and counts of the tiny copy)."""
    build = mini.BUILDERS.get(name) or (lambda: mini.imagenet_c(name))
    files, source, members = build()
    server.files.update(files)
    remotes = tuple(replace(remote, size=len(files[mini.remote_path(remote)])) for remote in source.remotes)
    monkeypatch.setitem(SOURCES, name, replace(source, remotes=remotes))
    return members


def _tree(root: Path) -> dict[str, str]:
    """Every file's SHA-256 but the manifest's (it holds the download's date)."""
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file() and path.name != MANIFEST}


def _leftovers() -> list[str]:
    return sorted(path.name for path in data_dir().iterdir() if path.name.startswith(".extract-")) \
        if data_dir().exists() else []


@pytest.mark.parametrize("name", list(mini.BUILDERS))
def test_download_completes_in_the_layout_its_adapter_reads(name, server, monkeypatch):
    members = _serve(server, monkeypatch, name)
    assert dataset_status(name) == "missing"
    seen = []
    dest = download(name, progress=lambda label, done, total: seen.append((label, done, total)), say=lambda _: None)
    assert dataset_status(name) == "present"
    assert seen and all(done <= total for _, done, total in seen) and seen[-1][1] == seen[-1][2]
    assert _leftovers() == []
    assert not any((data_dir() / ".downloads").iterdir())  # archives go once their content is in place
    source = SOURCES[name]
    if source.benchmark:
        assert load_items(BENCHMARKS[source.benchmark], dest)
        inner = source.inner or ("PUG_ImageNet" if name == "pug-imagenet" else "")
        for member, data in list(members.items())[:50]:  # files arrive byte for byte where the adapter reads them
            if name != "imagenet-hard" and member.endswith((".png", ".jpg", ".jpeg", ".JPEG")):
                relative = member.removeprefix(f"{inner}/") if inner else member
                assert (dest / relative).read_bytes() == data
    else:
        assert sorted(path.name for path in dest.iterdir()) == sorted(remote.target for remote in source.remotes)
    requested = [path for path, _ in server.requests]
    assert requested, "nothing was fetched from the mirror"
    assert download(name, say=lambda _: None) == dest and [p for p, _ in server.requests] == requested  # no refetch


def test_a_download_cut_off_half_way_resumes_with_range_and_ends_identical(server, monkeypatch, tmp_path):
    _serve(server, monkeypatch, "cue-conflict")
    path = mini.remote_path(SOURCES["cue-conflict"].remotes[0])
    size = len(server.files[path])
    server.drop_after[path] = size // 2
    with pytest.raises(DownloadFailed, match="resume") as caught:
        download("cue-conflict", say=lambda _: None)
    assert "\n" not in str(caught.value)
    part = data_dir() / ".downloads" / "cue-conflict.tar.gz.part"
    assert part.stat().st_size == size // 2
    assert not (data_dir() / "cue-conflict").exists() and _leftovers() == []
    assert dataset_status("cue-conflict") == "partial"
    resumed = download("cue-conflict", say=lambda _: None)
    assert server.ranges(path) == ["", f"bytes={size // 2}-"]
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "fresh"))
    fresh = download("cue-conflict", say=lambda _: None)
    assert _tree(resumed) == _tree(fresh) and len(_tree(fresh)) == 1280


def test_a_partial_file_left_by_a_killed_process_is_resumed(server, monkeypatch):
    _serve(server, monkeypatch, "imagenet-a")
    remote = SOURCES["imagenet-a"].remotes[0]
    body = server.files[mini.remote_path(remote)]
    part = data_dir() / ".downloads" / f"{remote.name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:1000])
    assert dataset_status("imagenet-a") == "partial"
    download("imagenet-a", say=lambda _: None)
    assert server.ranges(mini.remote_path(remote)) == ["bytes=1000-"]
    assert dataset_status("imagenet-a") == "present"


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
@pytest.mark.parametrize("name", ["imagenet-r", "cue-conflict"])  # with a checksum (third party's md5), without one
def test_a_corrupt_or_truncated_archive_gives_one_line_and_no_complete_looking_folder(name, damage, server,
                                                                                       monkeypatch):
    _serve(server, monkeypatch, name)
    path = mini.remote_path(SOURCES[name].remotes[0])
    body = server.files[path]
    server.files[path] = os.urandom(len(body)) if damage == "corrupt" else body[: len(body) * 6 // 10]
    expected = ("does not match the md5 from third party: torch-uncertainty" if name == "imagenet-r"
                else "corrupt or truncated|holds .* images")
    with pytest.raises(DownloadFailed, match=expected) as caught:
        download(name, say=lambda _: None)
    assert "\n" not in str(caught.value) and "nothing was put in place" in str(caught.value).lower()
    assert not (data_dir() / SOURCES[name].folder).exists() and _leftovers() == []
    assert dataset_status(name) == "missing" and not any((data_dir() / ".downloads").iterdir())  # nothing kept


def test_a_checksum_mismatch_is_refused(server, monkeypatch):
    _serve(server, monkeypatch, "imagenet-c")
    family = mini.remote_path(SOURCES["imagenet-c"].remotes[0])
    server.files[family] = server.files[family][:-1] + b"x"  # same length, one byte changed: only md5 can tell
    with pytest.raises(DownloadFailed, match="md5"):
        download("imagenet-c", say=lambda _: None)
    assert not any((data_dir() / "imagenet-c" / c).exists() for c in IMAGENET_C_FAMILIES["noise"][0].split())


def test_404_gives_one_line_and_leaves_nothing(server, monkeypatch, capsys):
    _serve(server, monkeypatch, "imagenet-a")
    server.files.clear()
    assert main(["download", "imagenet-a"]) == 1
    error = capsys.readouterr().err.strip()
    assert "404" in error and "\n" not in error and "Traceback" not in error
    assert not (data_dir() / "imagenet-a").exists() and dataset_status("imagenet-a") == "missing"


def test_a_timeout_gives_one_line(server, monkeypatch):
    _serve(server, monkeypatch, "imagenet-a")
    monkeypatch.setenv("BAE_DOWNLOAD_TIMEOUT", "0.3")
    server.delay[mini.remote_path(SOURCES["imagenet-a"].remotes[0])] = 1.5
    with pytest.raises(DownloadFailed, match="Could not reach|stopped") as caught:
        download("imagenet-a", say=lambda _: None)
    assert "\n" not in str(caught.value)


def test_too_little_disk_space_is_said_before_anything_is_fetched(server, monkeypatch):
    import shutil

    _serve(server, monkeypatch, "pug-imagenet")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**6, 10**6 - 10, 10))
    with pytest.raises(DownloadFailed, match="needs about .* free"):
        download("pug-imagenet", say=lambda _: None)
    assert server.requests == []


def test_an_incomplete_folder_already_there_is_kept_aside_not_deleted(server, monkeypatch):
    _serve(server, monkeypatch, "imagenet-a")
    old = data_dir() / "imagenet-a" / "n01440764" / "mine.jpg"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"a user's file")
    assert dataset_status("imagenet-a") == "partial"
    messages = []
    download("imagenet-a", say=messages.append)
    kept = data_dir() / "imagenet-a.incomplete-1" / "n01440764" / "mine.jpg"
    assert kept.read_bytes() == b"a user's file" and any("kept as" in message for message in messages)


def test_one_corruption_keeps_its_family_archive_for_the_next(server, monkeypatch):
    for name in ("imagenet-c/gaussian_noise", "imagenet-c/shot_noise"):
        _serve(server, monkeypatch, name)
    noise = mini.remote_path(SOURCES["imagenet-c/gaussian_noise"].remotes[0])
    download("imagenet-c/gaussian_noise", say=lambda _: None)
    dest = data_dir() / "imagenet-c"
    assert sorted(path.name for path in dest.iterdir()) == [MANIFEST, "gaussian_noise"]
    assert dataset_status("imagenet-c/gaussian_noise") == "present"
    assert (data_dir() / ".downloads" / "imagenet-c-noise.tar").exists()  # shot and impulse noise still to come
    download("imagenet-c/shot_noise", say=lambda _: None)
    assert len(server.ranges(noise)) == 1  # the archive was not fetched twice
    assert sorted(path.name for path in dest.iterdir()) == [MANIFEST, "gaussian_noise", "shot_noise"]
    manifest = read_manifest(dest)  # one archive, recorded once, with Zenodo's md5
    assert [f["name"] for f in manifest.files] == ["imagenet-c-noise.tar"] and manifest.images == 2 * 250_000
    assert manifest.files[0]["checksum_from"] == PUBLISHER


def test_list_reports_present_missing_and_partial(server, monkeypatch, capsys):
    _serve(server, monkeypatch, "cue-conflict")
    _serve(server, monkeypatch, "imagenet-a")
    download("cue-conflict", say=lambda _: None)
    part = data_dir() / ".downloads" / "imagenet-a.tar.part"
    part.write_bytes(b"half")
    assert main(["download", "--list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["cue-conflict"].split()[1] == "present"
    assert lines["imagenet-a"].split()[1] == "partial"
    assert lines["imagenet-r"].split()[1] == "missing"
    assert "CC BY-NC" in lines["pug-imagenet"] and "27 GB" in lines["pug-imagenet"]
    assert {row["name"] for row in source_rows()} >= {"imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch",
                                                      "imagenet-hard", "imagenet-c", "pug-imagenet", "cue-conflict"}


def test_every_public_benchmark_has_a_source_and_imagenet_val_explains_itself():
    public = {key for key in BENCHMARKS if key not in ("imagenet-val", "imagefolder")}
    assert public <= set(SOURCES)
    for source in SOURCES.values():
        assert source.page and source.licence and source.size_text and source.confirmed
    with pytest.raises(UserError, match="image-net.org.*flat.*WordNet-id.*imagenet-1k"):
        download("imagenet-val")


def test_mirror_replaces_scheme_and_host_only(monkeypatch):
    url = "https://zenodo.org/record/2235448/files/noise.tar?download=1"
    monkeypatch.delenv("BAE_DATA_MIRROR", raising=False)
    assert mirror_url(url) == url
    monkeypatch.setenv("BAE_DATA_MIRROR", "http://127.0.0.1:8000/cache/")
    assert mirror_url(url) == "http://127.0.0.1:8000/cache/record/2235448/files/noise.tar?download=1"


def test_imagenet_val_reads_the_hugging_face_imagenet_1k_names_under_their_official_ids(tmp_path):
    """data/val_images.tar.gz of the gated hub dataset names files ILSVRC2012_val_<n>_<wnid>.JPEG; ImageNet-X
    and the labels know the official name, so the item keeps that as its id."""
    from PIL import Image

    for name in ("ILSVRC2012_val_00000001_n01751748.JPEG", "ILSVRC2012_val_00000293_n01440764.JPEG"):
        Image.new("RGB", (4, 4)).save(tmp_path / name, format="JPEG")
    adapter = BENCHMARKS["imagenet-val"].adapter
    assert adapter.validate(tmp_path) == []
    items = {item.image_id: item for item in adapter.items(tmp_path)}
    assert set(items) == {"ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000293.JPEG"}
    assert items["ILSVRC2012_val_00000001.JPEG"].label == 65  # sea snake = n01751748
    assert items["ILSVRC2012_val_00000293.JPEG"].label == 0 and items["ILSVRC2012_val_00000293.JPEG"].path.endswith(
        "_n01440764.JPEG")


def test_a_download_process_killed_half_way_resumes_and_ends_identical(server, monkeypatch, tmp_path):
    """SIGKILL to a real `python -m core download` in the middle of the archive, then the same again."""
    import signal
    import subprocess
    import sys
    import time

    from core.config import PROJECT_ROOT

    _serve(server, monkeypatch, "cue-conflict")
    path = mini.remote_path(SOURCES["cue-conflict"].remotes[0])
    size = len(server.files[path])
    server.slow[path] = 0.02
    part = data_dir() / ".downloads" / "cue-conflict.tar.gz.part"
    process = subprocess.Popen([sys.executable, "-m", "core", "download", "cue-conflict"], cwd=PROJECT_ROOT,
                               env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (part.exists() and part.stat().st_size >= size // 3) and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    kept = part.stat().st_size
    assert 0 < kept < size, "the process was not killed half-way"
    assert not (data_dir() / "cue-conflict").exists() and dataset_status("cue-conflict") == "partial"
    server.slow.clear()
    resumed = download("cue-conflict", say=lambda _: None)
    assert server.ranges(path)[-1] == f"bytes={kept}-"
    monkeypatch.setenv("BAE_DATA_DIR", str(tmp_path / "fresh"))
    assert _tree(resumed) == _tree(download("cue-conflict", say=lambda _: None))


def test_a_misspelt_dataset_gets_suggestions_not_a_traceback(server, capsys):
    assert main(["download", "imagenet-sketh"]) == 1
    error = capsys.readouterr().err.strip()
    assert "No dataset or model named `imagenet-sketh`" in error and "imagenet-sketch" in error
    assert "Traceback" not in error and server.requests == []
