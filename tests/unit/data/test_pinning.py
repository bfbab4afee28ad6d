"""Pinned revisions (issue #22): the local mirror serves a pinned hub revision and another one; downloads take
only the pinned shard set, write a manifest, and runs record it; two revisions are never pooled."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from core.analysis.revisions import one_revision
from core.cli import main
from core.cli.data import LIST_WIDTH
from core.data import BENCHMARKS
from core.data.download import DownloadFailed, data_dir, dataset_status, download
from core.data.hard import HARD_ROWS
from core.data.manifest import MANIFEST, UNVERIFIED, read_manifest
from core.data.sources import PUBLISHER, SOURCES
from core.errors import UserError

from tests.unit.data import mirror as mini
from tests.unit.data.test_download import _serve, server  # noqa: F401 - the mirror fixture

PINNED = SOURCES["imagenet-hard"].hub.revision


def _quiet(_message: str) -> None:
    pass


def test_every_hub_source_is_pinned_to_a_commit_with_its_count():
    hubs = [source for source in SOURCES.values() if source.hub is not None]
    assert {source.name for source in hubs} == {"imagenet-v2", "imagenet-sketch", "imagenet-hard"}
    for source in hubs:
        assert re.fullmatch(r"[0-9a-f]{40}", source.hub.revision), source.name
        assert source.images > 0 and source.hub.checked


def test_url_sources_say_where_their_checksum_comes_from():
    for name in ("imagenet-a", "imagenet-r"):  # Hendrycks publishes none: a widely used third party's md5
        remote = SOURCES[name].remotes[0]
        assert re.fullmatch(r"[0-9a-f]{32}", remote.md5) and remote.checksum_from.startswith("third party:")
    assert all(remote.checksum_from == PUBLISHER and remote.md5 for remote in SOURCES["imagenet-c"].remotes)
    assert all("/records/2235448/" in remote.url for remote in SOURCES["imagenet-c"].remotes)  # /record/ is a 301
    assert "7,500 images is the paper's count" in SOURCES["imagenet-a"].confirmed


def test_the_pinned_revision_downloads_only_its_shard_set_and_writes_a_manifest(server, monkeypatch):
    members = _serve(server, monkeypatch, "imagenet-hard")
    dest = download("imagenet-hard", say=_quiet)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.parquet")) == sorted(members)
    assert all("-of-00009-" in name for name in members)  # the -of-00005 set beside it was not fetched
    assert not any("-of-00005-" in path for path, _ in server.requests)
    manifest = read_manifest(dest)
    assert (manifest.source, manifest.publisher, manifest.revision, manifest.pinned) == (
        "imagenet-hard", "taesiri/imagenet-hard", PINNED, True)
    assert manifest.images == manifest.images_expected == HARD_ROWS and len(manifest.files) == 9
    assert all(len(f["sha256"]) == 64 and f["checksum_from"] == PUBLISHER for f in manifest.files)
    assert manifest.downloaded and BENCHMARKS["imagenet-hard"].adapter.revision(dest) == manifest.describe()
    assert manifest.describe().startswith("taesiri/imagenet-hard@32bfa94 · manifest ")


def test_another_revision_is_refused_unless_chosen_and_chosen_it_works(server, monkeypatch, tmp_path):
    _serve(server, monkeypatch, "imagenet-hard")
    other, sets = mini.imagenet_hard_other_revision()
    server.files.update(other)
    pinned = download("imagenet-hard", say=_quiet)
    first = read_manifest(pinned)
    # the other revision's files copied by hand (no manifest): two shard sets and another row count are refused
    copy = tmp_path / "copy"
    for name, data in sets.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    assert "one shard set" in str(BENCHMARKS["imagenet-hard"].adapter.validate(copy)[0])
    # downloading it without choosing a shard set is refused in one line; nothing replaces the pinned copy
    with pytest.raises(DownloadFailed, match=r"2 shard sets \(-of-00002, -of-00004\).*--files") as caught:
        download("imagenet-hard", revision=mini.OTHER_HARD_REVISION, say=_quiet)
    assert "\n" not in str(caught.value) and read_manifest(pinned) == first
    # chosen on purpose (revision and shard set), it downloads, and its manifest says it is not the pinned one
    messages = []
    dest = download("imagenet-hard", revision=mini.OTHER_HARD_REVISION, files="*-of-00004-*", say=messages.append)
    chosen = read_manifest(dest)
    assert (chosen.revision, chosen.pinned, chosen.images, chosen.images_expected) == (
        mini.OTHER_HARD_REVISION, False, 20, 0)
    assert BENCHMARKS["imagenet-hard"].adapter.validate(dest) == []
    assert "(chosen, not the pinned revision)" in chosen.describe() and chosen.identity() != first.identity()
    assert read_manifest(data_dir() / "imagenet-hard.incomplete-1") == first  # the pinned copy was kept aside
    assert any("kept as" in message for message in messages)
    # the default download brings the pinned revision back
    download("imagenet-hard", say=_quiet)
    assert read_manifest(dest).revision == PINNED


def test_revision_choices_are_checked(server, monkeypatch):
    with pytest.raises(UserError, match="fixed URLs"):
        download("imagenet-a", revision="a" * 40, say=_quiet)
    with pytest.raises(UserError, match="40-hex-digit commit of taesiri/imagenet-hard"):
        download("imagenet-hard", revision="main", say=_quiet)


def test_a_listing_split_over_two_pages_is_followed(server, monkeypatch):
    _serve(server, monkeypatch, "imagenet-v2")
    listing = mini.listing_path("imagenet-v2")
    mini.paginate(server, listing)
    assert "imagenetv2-matched-frequency.tar.gz" not in server.files[listing].decode()  # on the second page only
    dest = download("imagenet-v2", say=_quiet)
    assert [path for path, _ in server.requests][:2] == [listing, f"{listing}?cursor=page2"]
    assert dataset_status("imagenet-v2") == "present" and read_manifest(dest).files[0]["name"].endswith(".tar.gz")


def test_list_fits_100_columns_and_long_names_each_pin(server, capsys):
    for arguments in (["download", "--list"], ["download", "--list", "--long"]):
        assert main(arguments) == 0
        lines = capsys.readouterr().out.splitlines()
        assert max(len(line) for line in lines) <= LIST_WIDTH < 100
        assert lines[0].split() == ["name", "state", "size", "licence"]
    text = "\n".join(lines)
    assert "taesiri/imagenet-hard@32bfa94dcd95e7c3bbe09fa281f5b89870921745" in text
    assert "md5 c3e55429088d… from third party: torch-uncertainty" in text
    assert "10 files: sha256 each from git show 79ed7cd" in text  # the human decisions, pinned file by file
    assert "not pinned" in text  # the sources that stay unpinned say so (PUG's archive)


def test_several_downloads_end_with_one_summary_line_and_fail_if_any_failed(server, monkeypatch, capsys):
    _serve(server, monkeypatch, "imagenet-a")
    assert main(["download", "imagenet-a", "imagenet-r"]) == 1  # imagenet-r is not served: 404
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == "download: 1 done (imagenet-a), 1 failed (imagenet-r)."
    assert main(["download", "imagenet-a", "imagenet-a"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "download: 2 done (imagenet-a, imagenet-a), 0 failed."


def test_a_run_records_the_manifest_and_two_revisions_are_never_pooled(server, monkeypatch, tmp_path,
                                                                        tiny_models_toml):
    from core.run.evaluation import evaluate
    from core.store import ResultsStore

    _serve(server, monkeypatch, "imagenet-hard")
    server.files.update(mini.imagenet_hard_other_revision()[0])
    store = ResultsStore(tmp_path / "results.duckdb")
    dest = download("imagenet-hard", say=_quiet)
    pinned = evaluate(["tiny_vit"], "imagenet-hard", dest, limit=6, store=store, workers=0, say=_quiet)[0]
    download("imagenet-hard", revision=mini.OTHER_HARD_REVISION, files="*-of-00002-*", say=_quiet)
    chosen = evaluate(["tiny_vit"], "imagenet-hard", dest, limit=6, store=store, workers=0, say=_quiet)[0]
    # an unverified copy of the pinned files (no manifest): a third revision, as the run records it
    copy = tmp_path / "copy"
    (data_dir() / "imagenet-hard.incomplete-1").rename(copy)
    (copy / MANIFEST).unlink()
    unverified = evaluate(["tiny_convnext"], "imagenet-hard", copy, limit=6, store=store, workers=0, say=_quiet)[0]
    runs = store.runs()
    recorded = dict(zip(runs["run_id"], runs["data_revision"]))
    assert recorded[pinned.run_id].startswith("taesiri/imagenet-hard@32bfa94 · manifest ")
    assert recorded[chosen.run_id].startswith("taesiri/imagenet-hard@0c67117 (chosen, not the pinned revision)")
    assert recorded[unverified.run_id] == UNVERIFIED
    assert len({pinned.run_id, chosen.run_id, unverified.run_id}) == 3  # same model and sample size, three keys
    kept, notes = one_revision(runs)
    assert list(kept["run_id"]) == [unverified.run_id]  # the latest run's revision only
    assert notes == ["imagenet-hard: showing runs on unverified copy; 2 runs on taesiri/imagenet-hard@0c67117 "
                     "(chosen, not the pinned revision), taesiri/imagenet-hard@32bfa94 not pooled with them"]


def test_runs_stored_before_manifests_count_as_unverified_copies():
    import pandas as pd

    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "benchmark": ["imagenet-r"] * 2 + ["imagenet-a"],
                         "data_revision": ["", UNVERIFIED, None]})
    kept, notes = one_revision(runs)
    assert list(kept["run_id"]) == ["a", "b", "c"] and notes == []


def test_the_manifest_is_json_a_person_can_read(server, monkeypatch):
    _serve(server, monkeypatch, "imagenet-a")
    dest = download("imagenet-a", say=_quiet)
    data = json.loads((dest / MANIFEST).read_text())
    assert data["source"] == "imagenet-a" and data["revision"] == "" and data["classes"] == 200
    assert data["files"][0]["md5"] and data["files"][0]["checksum_from"].startswith("third party: torch-uncertainty")
    assert data["images"] == data["images_expected"] == 200


def test_the_pinned_revision_with_a_row_missing_is_refused(server, monkeypatch):
    _serve(server, monkeypatch, "imagenet-hard")
    shards, _ = mini.imagenet_hard_other_revision()  # stand-in bytes with fewer rows, served under a pinned name
    name = next(path for path in server.files if path.endswith(".parquet") and "-of-00009-" in path)
    server.files[name] = next(data for path, data in shards.items() if path.endswith(".parquet"))
    listing = json.loads(server.files[mini.listing_path("imagenet-hard")])
    for entry in listing:  # the listing's checksum follows the served bytes: only the row count can tell
        if entry.get("path") and name.endswith(entry["path"]):
            data = server.files[name]
            entry["size"] = entry["lfs"]["size"] = len(data)
            entry["lfs"]["oid"] = hashlib.sha256(data).hexdigest()
    server.files[mini.listing_path("imagenet-hard")] = json.dumps(listing).encode()
    with pytest.raises(DownloadFailed, match=r"at 32bfa94 holds [\d,]+ rows, expected 10,980 \(the card's count"):
        download("imagenet-hard", say=_quiet)
    assert not (data_dir() / "imagenet-hard").exists()


def test_human_decisions_are_pinned_to_a_commit_with_each_files_sha256():
    """The entry's checksums are those of the human observers' files as model-vs-human publishes them (the copy
    in ../shared is the publisher's bytes): a pinned commit in every URL, and no file left without a checksum."""
    from tests.conftest import shared_data

    folder = shared_data("cue-conflict-human")
    source = SOURCES["human-decisions"]
    assert len(source.remotes) == 10
    for remote in source.remotes:
        assert re.search(r"/model-vs-human/[0-9a-f]{40}/", remote.url), remote.url
        assert remote.sha256 == hashlib.sha256((folder / remote.target).read_bytes()).hexdigest(), remote.name
