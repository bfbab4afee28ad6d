"""Downloads of the datasets with a public source (core/data/sources.py): resumable, verified, never half-visible.

Each file is fetched into `<data>/.downloads/<name>.part` with HTTP Range resume, checked against the
publisher's checksum where one exists, and only then renamed to `<name>`. Archives are extracted into a
temporary folder beside the destination, their layout and counts checked, and the dataset folder is
renamed into place last, so an interrupted or failed download never leaves a folder that looks complete.
Nothing already downloaded is deleted on failure: a partial file is resumed by the same command.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Literal

from core.config import cache_dir, refuse_in_view_mode
from core.data.base import list_images, subfolders
from core.data.manifest import Manifest, read_manifest, write_manifest
from core.data.sources import (IMAGENET_C_FAMILIES, PUBLISHER, SOURCES, Remote, Source, get_source, mirror_url,
                               pin_text)
from core.errors import UserError

__all__ = ["data_dir", "download", "dataset_status", "source_rows", "DownloadFailed", "Progress",
           "download_cue_conflict", "download_author_decisions", "download_human_decisions"]

Progress = Callable[[str, int, int], None]
"""progress(label, bytes done, bytes total): the CLI draws tqdm bars, the app st.progress."""
Status = Literal["present", "partial", "missing"]
_CHUNK = 1 << 20


class DownloadFailed(UserError):
    """A download that could not finish; the message says why and what was kept."""


def data_dir() -> Path:
    """Where downloads go (`BAE_DATA_DIR`, default `cache/data`)."""
    return Path(os.environ.get("BAE_DATA_DIR", cache_dir() / "data"))


def _timeout() -> float:
    return float(os.environ.get("BAE_DOWNLOAD_TIMEOUT", "30"))


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


# ---- one file over HTTP, resumable -------------------------------------------------------------------

def _open(url: str, start: int):
    request = urllib.request.Request(url, headers={"User-Agent": "beyond-accuracy-explorer",
                                                   **({"Range": f"bytes={start}-"} if start else {})})
    try:
        return urllib.request.urlopen(request, timeout=_timeout())
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:
            return None  # the partial file already holds everything the server has
        reason = {404: "404 (not found): the source moved or the mirror lacks it",
                  403: "403 (forbidden)"}.get(error.code, f"HTTP {error.code} ({error.reason})")
        raise DownloadFailed(f"{url} answered {reason}. Check the URL in core/data/sources.py or BAE_DATA_MIRROR.") \
            from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadFailed(f"Could not reach {url} ({reason}). Check the connection (or BAE_DATA_MIRROR) "
                             "and run the same command again.") from None


def _fetch(url: str, part: Path, size: int, label: str, progress: Progress | None) -> None:
    """Append to `part` from where it stops (HTTP Range) until the server has sent everything."""
    refuse_in_view_mode("downloads")
    part.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    if size and start == size:
        return
    response = _open(url, start)
    if response is None:
        return
    with response:
        if start and response.status != 206:
            start = 0  # the server ignored Range: start again from the beginning
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else (size or 0)
        done = start
        try:
            with open(part, "ab" if start else "wb") as handle:
                while True:
                    try:
                        chunk = response.read1(_CHUNK)  # what has arrived: a killed process keeps all of it
                    except http.client.IncompleteRead as error:
                        chunk = error.partial
                    if not chunk:
                        break
                    handle.write(chunk)
                    handle.flush()
                    done += len(chunk)
                    if progress:
                        progress(label, done, total)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise DownloadFailed(f"The disk holding {part.parent} is full ({_gb(done)} of {_gb(total)} of "
                                     f"{part.name[:-5]} written, kept). Free space and run the same command "
                                     "again to resume.") from None
            if isinstance(error, (socket.timeout, TimeoutError, ConnectionError)):
                raise DownloadFailed(f"The connection to {url} stopped at {_gb(done)} of {_gb(total)} ({error}); "
                                     "the partial file is kept: run the same command again to resume.") from None
            raise
    if total and done < total:
        raise DownloadFailed(f"The connection to {url} closed at {_gb(done)} of {_gb(total)}; the partial file is "
                             "kept: run the same command again to resume.")


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_file(remote: Remote, label: str, progress: Progress | None) -> Path:
    """The verified local copy of `remote` in `.downloads/` (fetched or resumed as needed)."""
    final = data_dir() / ".downloads" / remote.name
    if final.exists():
        return final
    part = final.with_name(final.name + ".part")
    _fetch(mirror_url(remote.url), part, remote.size, label, progress)
    for algorithm, expected in (("sha256", remote.sha256), ("md5", remote.md5)):
        if expected and _digest(part, algorithm) != expected:
            part.unlink()  # a finished file with the wrong content cannot be resumed into the right one
            origin = f"the {algorithm} from {(remote.checksum_from or PUBLISHER).split(' (')[0]}"  # the source's name
            raise DownloadFailed(f"{remote.name} does not match {origin} (corrupt or another version); it was "
                                 "removed and nothing was put in place: run the same command again to download it "
                                 "anew.")
    os.replace(part, final)
    return final


# ---- Hugging Face listing ----------------------------------------------------------------------------

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_SHARD_SET = re.compile(r"-of-(\d+)")


def _listing(url: str, repo: str) -> list[dict]:
    """Every entry of a hub tree listing, following its `Link: <…>; rel="next"` pages."""
    entries, seen = [], set()
    while url and url not in seen:
        seen.add(url)
        response = _open(mirror_url(url), 0)
        with response:
            try:
                page = json.loads(response.read())
            except ValueError:
                raise DownloadFailed(f"The file list of {repo} from {mirror_url(url)} is not JSON.") from None
            link = response.headers.get("Link", "")
        entries += page if isinstance(page, list) else []
        found = _NEXT.search(link)
        url = found.group(1) if found else ""
    return entries


def _hub_remotes(source: Source) -> tuple[Remote, ...]:
    """The files of `source.hub` at its revision (one shard set), each with the SHA-256 the hub lists."""
    hub = source.hub
    if hub is None:
        return source.remotes
    url = f"{hub.endpoint}/api/datasets/{hub.repo}/tree/{hub.revision}" + (f"/{hub.folder}" if hub.folder else "")
    remotes = []
    for entry in _listing(url, hub.repo):
        path = entry.get("path", "")
        name = path.rsplit("/", 1)[-1]
        if entry.get("type") != "file" or not path.endswith(hub.suffix) or (hub.files and
                                                                             not fnmatch.fnmatch(name, hub.files)):
            continue
        lfs = entry.get("lfs") or {}
        remotes.append(Remote(f"{hub.endpoint}/datasets/{hub.repo}/resolve/{hub.revision}/{path}",
                              f"{source.folder}--{hub.revision[:7]}--{path.replace('/', '--')}",  # one per revision
                              int(lfs.get("size") or entry.get("size") or 0),
                              sha256=lfs.get("oid", ""), unpack=hub.unpack, target=path, checksum_from=PUBLISHER))
    where = f"{hub.repo} at {hub.revision[:12]}"
    if not remotes:
        raise DownloadFailed(f"{where} lists no file ending in {hub.suffix}" + (f" matching {hub.files}" if hub.files
                             else "") + f" under `{hub.folder or '/'}`: another revision or layout; see "
                             "core/data/sources.py, or choose the files with --files GLOB.")
    sets = sorted({match.group(0) for remote in remotes if (match := _SHARD_SET.search(remote.target))})
    if len(sets) > 1:
        raise DownloadFailed(f"{where} holds {len(sets)} shard sets ({', '.join(sets)}); a dataset is one of them. "
                             f"Choose one with --files, e.g. --files '*{sets[-1]}-*'.")
    return tuple(remotes) + source.remotes


def _choose(source: Source, revision: str | None, files: str | None) -> Source:
    """`source` at the revision (and file glob) a user chose on purpose; the pinned entry when neither is given."""
    if not revision and not files:
        return source
    from core.errors import UserError

    if source.hub is None:
        raise UserError(f"{source.name} comes from fixed URLs, not a hub repository: it has no --revision or --files "
                        "to choose (see python -m core download --list --long).")
    revision = (revision or source.hub.revision).strip()
    if not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise UserError(f"Expected --revision to be a 40-hex-digit commit of {source.hub.repo}, got `{revision}`. "
                        f"Its commits: {source.hub.endpoint}/datasets/{source.hub.repo}/commits/main")
    pinned = revision == source.hub.revision and files in (None, source.hub.files)
    if pinned:
        return source
    hub = replace(source.hub, revision=revision, files=files if files is not None else
                  (source.hub.files if revision == source.hub.revision else ""))
    # another revision's count is not in the table: the download records what it finds instead of checking it
    return replace(source, hub=hub, images=0)


# ---- extraction and checks ----------------------------------------------------------------------------

def _extract(archive: Path, remote: Remote, into: Path, members: tuple[str, ...]) -> None:
    def wanted(name: str) -> bool:
        return not members or name.strip("./").split("/")[0] in members

    try:
        if remote.unpack == "zip":
            with zipfile.ZipFile(archive) as handle:
                for info in handle.infolist():
                    if wanted(info.filename):
                        handle.extract(info, into)
        else:
            with tarfile.open(archive) as handle:
                for member in handle:
                    if wanted(member.name):
                        handle.extract(member, into, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise DownloadFailed(f"The disk holding {into.parent} filled up while extracting {archive.name}. Free "
                                 "space and run the same command again (the archive is kept).") from None
        archive.unlink(missing_ok=True)  # a corrupt archive cannot be resumed: the next run downloads it anew
        detail = str(error).splitlines()[0].rstrip(":") if str(error) else type(error).__name__
        raise DownloadFailed(f"{archive.name} is corrupt or truncated ({detail}); it was removed and nothing was "
                             "put in place: run the same command again to download it anew.") from None


def _find_root(tree: Path, source: Source) -> Path:
    if source.inner and (tree / source.inner).is_dir():
        return tree / source.inner
    if source.marker:
        level = [tree]
        for _ in range(4):
            for folder in level:
                if (folder / source.marker).is_dir():
                    return folder
            level = [child for folder in level for child in subfolders(folder)]
    return tree


def _count(root: Path) -> int:
    """Image files anywhere below `root`."""
    return sum(len(list_images(Path(folder))) for folder, _, _ in os.walk(root))


def _check_counts(root: Path, source: Source, images: int, what: str) -> None:
    found_images = _count(root)
    ok = found_images == images if source.exact else found_images >= images
    if not ok:
        expected = f"{images:,}" if source.exact else f"at least {images:,}"
        raise DownloadFailed(f"{what} holds {found_images:,} images, expected {expected} (publisher's count): the "
                             "archive is incomplete or another version. Nothing was put in place.")


def _validate(root: Path, source: Source) -> None:
    from core.data.registry import BENCHMARKS

    problems = BENCHMARKS[source.benchmark].adapter.validate(root)
    if problems:
        raise DownloadFailed(f"{source.label} as downloaded does not have the expected layout: {problems[0]} "
                             "Nothing was put in place.")


def _corruption_complete(folder: Path) -> bool:
    return all((folder / severity).is_dir() and subfolders(folder / severity) for severity in "12345")


def _aside(path: Path) -> Path:
    number = 1
    while path.with_name(f"{path.name}.incomplete-{number}").exists():
        number += 1
    target = path.with_name(f"{path.name}.incomplete-{number}")
    os.replace(path, target)
    return target


def _check_space(source: Source, remotes: tuple[Remote, ...], say: Callable[[str], None]) -> None:
    base = data_dir()
    base.mkdir(parents=True, exist_ok=True)
    need = 0
    for remote in remotes:
        final = base / ".downloads" / remote.name
        part = final.with_name(final.name + ".part")
        have = final.stat().st_size if final.exists() else part.stat().st_size if part.exists() else 0
        extracted = remote.size if remote.unpack != "none" else 0
        need += max(remote.size - have, 0) + extracted
    free = shutil.disk_usage(base).free
    if need > free:
        raise DownloadFailed(f"{source.label} needs about {_gb(need)} free at {base} (archive plus extracted "
                             f"files), {_gb(free)} is free. Free space or set BAE_DATA_DIR to a larger disk.")


# ---- one dataset --------------------------------------------------------------------------------------

def download(name: str, *, progress: Progress | None = None, say: Callable[[str], None] = print,
             revision: str | None = None, files: str | None = None) -> Path:
    """Fetch, verify and put in place the dataset `name` (a key of SOURCES); returns its folder.

    `revision` (a hub commit) and `files` (a glob of file names) choose another revision or shard set than
    the pinned one, on purpose; the manifest written into the folder records which. A complete dataset at
    the same revision is left as it is; one at another revision is kept aside (`NAME.incomplete-N`).
    Raises DownloadFailed (a UserError) with a one-line reason.
    """
    refuse_in_view_mode("downloads")
    source = _choose(get_source(name), revision, files)
    dest = data_dir() / source.folder
    if dataset_status(name) == "present" and _same_revision(dest, source):
        say(f"{name}: already complete at {dest}")
        return dest
    remotes = _hub_remotes(source)
    _check_space(source, remotes, say)
    fetched = {remote: _download_file(remote, f"{name}: {remote.name}", progress) for remote in remotes}
    if not source.benchmark:
        _place_files(dest, fetched)
    elif source.benchmark == "imagenet-c":
        _place_corruptions(dest, source, fetched)
    else:
        _place_dataset(dest, source, fetched, say)
    say(f"{name}: complete at {dest}")
    return dest


def _same_revision(dest: Path, source: Source) -> bool:
    """Whether the folder's manifest is of `source`'s revision (a folder without one is taken as it is)."""
    manifest = read_manifest(dest)
    if manifest is None or source.hub is None:
        return True
    return manifest.revision == source.hub.revision and (manifest.pinned or not _is_pinned(source))


def _is_pinned(source: Source) -> bool:
    pinned = SOURCES.get(source.name)
    return source.hub is None or (pinned is not None and pinned.hub == source.hub)


def _manifest(source: Source, remotes, root: Path, images: int) -> Manifest:
    files = tuple({"name": remote.target or remote.name, "url": remote.url, "size": remote.size,
                   **({"sha256": remote.sha256} if remote.sha256 else {}), **({"md5": remote.md5} if remote.md5 else {}),
                   "checksum_from": (remote.checksum_from or "none published: counts checked")
                   if (remote.sha256 or remote.md5) else "none published: counts checked"} for remote in remotes)
    counted = source.classes and not source.marker and source.benchmark != "imagenet-c"  # class folders at the top
    classes = len(subfolders(root)) if counted else source.classes
    return Manifest(source.name, source.hub.repo if source.hub else source.page.split(" ")[0],
                    revision=source.hub.revision if source.hub else "", pinned=_is_pinned(source), files=files,
                    images=images, images_expected=source.images, classes=classes,
                    downloaded=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _place_files(dest: Path, files: dict[Remote, Path]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for remote, path in files.items():
        target = dest / remote.target
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target.with_name(target.name + ".part"))
            os.replace(target.with_name(target.name + ".part"), target)
        path.unlink()


def _scratch(dest: Path) -> Path:
    scratch = dest.parent / f".extract-{dest.name}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return scratch


def _place_dataset(dest: Path, source: Source, files: dict[Remote, Path], say: Callable[[str], None]) -> None:
    scratch = _scratch(dest)
    try:
        archives = [(remote, path) for remote, path in files.items() if remote.unpack != "none"]
        for remote, path in archives:
            _extract(path, remote, scratch, ())
        root = _find_root(scratch, source) if archives else scratch
        for remote, path in files.items():
            if remote.unpack == "none":
                (root / remote.target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, root / remote.target)
        if source.images and source.benchmark != "imagenet-hard":
            _check_counts(root, source, source.images, f"{source.label} as downloaded")
        found = _rows(root) if source.benchmark == "imagenet-hard" else _count(root)
        if source.images and source.benchmark == "imagenet-hard" and found != source.images:
            raise DownloadFailed(f"{source.label} at {source.hub.revision[:7]} holds {found:,} rows, expected "
                                 f"{source.images:,} (the card's count for that revision): incomplete or another "
                                 "revision. Nothing was put in place.")
        write_manifest(root, _manifest(source, tuple(files), root, found))  # the adapter checks rows against it
        _validate(root, source)
        if dest.exists():
            moved = _aside(dest)
            say(f"{source.name}: the folder that was at {dest} (incomplete or another revision) is kept as {moved}")
        os.replace(root, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for path in files.values():
        path.unlink(missing_ok=True)


def _place_corruptions(dest: Path, source: Source, files: dict[Remote, Path]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    per_corruption = source.images // len(source.members)
    for remote, path in files.items():
        family = remote.name.removeprefix("imagenet-c-").removesuffix(".tar")
        wanted = tuple(c for c in IMAGENET_C_FAMILIES[family][0].split()
                       if c in source.members and not _corruption_complete(dest / c))
        scratch = _scratch(dest)
        try:
            if wanted:
                _extract(path, remote, scratch, wanted)
            for corruption in wanted:
                if not (scratch / corruption).is_dir():
                    raise DownloadFailed(f"{remote.name} holds no {corruption}/ folder: the archive is not the "
                                         "publisher's. Nothing was put in place.")
                _check_counts(scratch / corruption, source, per_corruption, f"ImageNet-C {corruption}")
                for severity in "12345":
                    found = len(subfolders(scratch / corruption / severity))
                    if found != source.classes:
                        raise DownloadFailed(f"ImageNet-C {corruption}/{severity} as downloaded holds {found} class "
                                             f"folders, expected {source.classes}. Nothing was put in place.")
            for corruption in wanted:
                if (dest / corruption).exists():
                    _aside(dest / corruption)
                os.replace(scratch / corruption, dest / corruption)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _record_corruptions(dest, source, remote)
        if all(_corruption_complete(dest / c) for c in IMAGENET_C_FAMILIES[family][0].split()):
            path.unlink(missing_ok=True)  # keep a family archive until every corruption in it is extracted


def _rows(root: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in sorted(root.rglob("*.parquet")))


def _record_corruptions(dest: Path, source: Source, remote: Remote) -> None:
    """Add one family archive to the ImageNet-C manifest (the folder fills one family at a time)."""
    before = read_manifest(dest)
    kept = tuple(f for f in (before.files if before else ()) if f.get("name") != remote.name)
    done = [c for members, _, _ in IMAGENET_C_FAMILIES.values() for c in members.split()
            if _corruption_complete(dest / c)]
    manifest = _manifest(source, (remote,), dest, 0)
    write_manifest(dest, replace(manifest, source="imagenet-c", files=kept + manifest.files,
                                 images=50_000 * 5 * len(done), images_expected=50_000 * 5 * len(done)))


# ---- status -------------------------------------------------------------------------------------------

def _has_partial(source: Source) -> bool:
    downloads = data_dir() / ".downloads"
    if not downloads.is_dir():
        return False
    names = {remote.name for remote in source.remotes}
    return any(path.name.removesuffix(".part") in names or path.name.startswith(f"{source.folder}--")
               for path in downloads.iterdir())


def dataset_status(name: str) -> Status:
    """`present` (complete at its folder), `partial` (something downloaded or extracted) or `missing`."""
    source = get_source(name)
    dest = data_dir() / source.folder
    if not source.benchmark:
        present = [(dest / remote.target).is_file() for remote in source.remotes]
        return "present" if all(present) else "partial" if any(present) or _has_partial(source) else "missing"
    if source.benchmark == "imagenet-c":
        done = [_corruption_complete(dest / c) for c in source.members]
        started = any((dest / c).exists() for c in source.members)
        return "present" if all(done) else "partial" if started or _has_partial(source) else "missing"
    from core.data.registry import BENCHMARKS

    if dest.exists():
        return "partial" if BENCHMARKS[source.benchmark].adapter.validate(dest) else "present"
    return "partial" if _has_partial(source) else "missing"


def source_rows(include_corruptions: bool = False) -> list[dict]:
    """One row per download for `download --list`: name, size, source, licence, status, path, pinned."""
    rows = []
    for name, source in SOURCES.items():
        if name.startswith("imagenet-c/") and not include_corruptions:
            continue
        rows.append({"name": name, "size": source.size_text, "source": source.page, "licence": source.licence,
                     "status": dataset_status(name), "path": str(data_dir() / source.folder),
                     "pinned": pin_text(source)})
    return rows


# ---- the three downloads the app and CLI used before --------------------------------------------------

def download_cue_conflict(say: Callable[[str], None] = print, progress: Progress | None = None) -> Path:
    """The 1,280 cue-conflict images from model-vs-human's release, checked after extraction."""
    return download("cue-conflict", progress=progress, say=say)


def download_author_decisions(say: Callable[[str], None] = print, progress: Progress | None = None) -> Path:
    """The paper authors' released cue-conflict decisions of their four models (CSV files)."""
    return download("paper-decisions", progress=progress, say=say)


def download_human_decisions(say: Callable[[str], None] = print, progress: Progress | None = None) -> Path:
    """The 10 human observers' cue-conflict decisions (model-vs-human raw-data, MIT licence)."""
    return download("human-decisions", progress=progress, say=say)

