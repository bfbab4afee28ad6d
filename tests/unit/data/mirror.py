"""A local HTTP mirror (127.0.0.1, HTTP Range) serving tiny archives in each publisher's real layout.

`BAE_DATA_MIRROR` points the downloads at it; nothing here reaches the internet. Each builder
returns the files to serve ({URL path: bytes}) and the source entry with the counts (and
checksums) of the tiny copy: the real entries keep the publisher's numbers.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from PIL import Image

from core.data.cue_conflict import SIXTEEN_CLASSES
from core.data.pug import PUG_FACTORS
from core.data.sources import IMAGENET_C_FAMILIES, SOURCES, Remote
from core.imagenet import wnids


class Mirror:
    """Serves `files`; `drop_after[path] = n` sends the full length header, then n bytes, then hangs up (once)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.slow: dict[str, float] = {}  # seconds between 4 KiB pieces of the body
        self.headers: dict[str, dict[str, str]] = {}  # extra response headers (the hub's Link: rel="next")
        self.requests: list[tuple[str, str]] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                path = parts.path + (f"?{parts.query}" if parts.query and parts.path + f"?{parts.query}" in mirror.files
                                     else "")  # a listing's next page differs from the first by its query only
                mirror.requests.append((path, self.headers.get("Range", "")))
                if path in mirror.delay:
                    time.sleep(mirror.delay[path])
                body = mirror.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                for name, value in mirror.headers.get(path, {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if path in mirror.drop_after:
                    self.wfile.write(body[start:start + mirror.drop_after.pop(path)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if path in mirror.slow:
                    for offset in range(start, len(body), 4096):
                        self.wfile.write(body[offset:offset + 4096])
                        self.wfile.flush()
                        time.sleep(mirror.slow[path])
                    return
                self.wfile.write(body[start:])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ranges(self, path: str) -> list[str]:
        return [header for served, header in self.requests if served == path]


def _png(colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (seed % 256, (seed * 7) % 256, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], gz: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(members.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def _path(url: str) -> str:
    return urlsplit(url).path


def listing_path(name: str, revision: str = "") -> str:
    """The URL path of the hub's tree listing of `name`'s folder at `revision` (default: the pinned one)."""
    hub = SOURCES[name].hub
    return f"/api/datasets/{hub.repo}/tree/{revision or hub.revision}" + (f"/{hub.folder}" if hub.folder else "")


def _hub(name: str, members: dict[str, bytes], revision: str = "") -> dict[str, bytes]:
    """The hub's tree listing at `revision` (with each file's LFS SHA-256) and the files themselves."""
    hub = SOURCES[name].hub
    revision = revision or hub.revision
    listing = [{"type": "file", "path": path, "size": len(data),
                "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}} for path, data in members.items()]
    listing.append({"type": "file", "path": (f"{hub.folder}/" if hub.folder else "") + "README.md", "size": 5})
    listing.append({"type": "directory", "path": "other"})
    served = {listing_path(name, revision): json.dumps(listing).encode()}
    served.update({f"/datasets/{hub.repo}/resolve/{revision}/{path}": data for path, data in members.items()})
    return served


def paginate(server: Mirror, path: str) -> None:
    """Split the listing served at `path` over two pages, the first pointing to the second with the hub's
    `Link: <URL>; rel="next"` header (an absolute URL on the hub, as the hub sends it)."""
    entries = json.loads(server.files[path])
    half = len(entries) // 2  # the data files come first: they go to the second page, which only `next` reaches
    second = f"{path}?cursor=page2"
    server.files[path], server.files[second] = json.dumps(entries[half:]).encode(), json.dumps(entries[:half]).encode()
    server.headers[path] = {"Link": f'<https://huggingface.co{second}>; rel="next"'}


def cue_conflict():
    png = _png()
    members = {f"cue-conflict/{shape}/{shape}{n}-{SIXTEEN_CLASSES[n % 16]}{n}.png": png
               for shape in SIXTEEN_CLASSES for n in range(1, 81)}
    source = SOURCES["cue-conflict"]
    return {_path(source.remotes[0].url): tar_bytes(members)}, source, members


def decisions(name: str):
    source = SOURCES[name]
    files = {_path(remote.url): f"subj,imagename\n{index},x\n".encode() for index, remote in enumerate(source.remotes)}
    remotes = tuple(replace(remote, sha256=hashlib.sha256(files[_path(remote.url)]).hexdigest()) if remote.sha256
                    else remote for remote in source.remotes)  # the tiny copy's checksums where the entry has one
    return files, replace(source, remotes=remotes), {}


def imagenet_v2():
    members = {f"imagenetv2-matched-frequency-format-val/{index}/{index:04d}.jpeg": _jpeg(index) for index in range(1000)}
    served = _hub("imagenet-v2", {"imagenetv2-matched-frequency.tar.gz": tar_bytes(members)})
    return served, replace(SOURCES["imagenet-v2"], images=1000), members


def imagenet_a_r(name: str):
    members = {f"{name}/{wnid}/{index}.jpg": _jpeg(index) for index, wnid in enumerate(wnids()[:200])}
    members[f"{name}/README.txt"] = b"the publisher's readme"
    source = SOURCES[name]
    data = tar_bytes(members, gz=False)  # the tiny copy's md5 stands in for the third party's
    remotes = (replace(source.remotes[0], md5=hashlib.md5(data).hexdigest()),)
    return {_path(source.remotes[0].url): data}, replace(source, images=200, remotes=remotes), members


def imagenet_sketch():
    members = {f"sketch/{wnid}/sketch_{index}.JPEG": _jpeg(index) for index, wnid in enumerate(wnids())}
    served = _hub("imagenet-sketch", {"data/ImageNet-Sketch.zip": _zip_bytes(members)})
    return served, replace(SOURCES["imagenet-sketch"], images=1000), members


def _hard_shards(rows_per_shard: tuple[int, ...], tag: str) -> dict[str, bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    png = _png((10, 200, 10))
    shards = {}
    for shard, rows in enumerate(rows_per_shard):
        table = pa.table({"image": [{"bytes": png, "path": None}] * rows,
                          "label": [[index % 1000, (index + 1) % 1000] for index in range(rows)]})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        shards[f"data/validation-{shard:05d}-of-{len(rows_per_shard):05d}-{tag}{shard}.parquet"] = buffer.getvalue()
    return shards


def imagenet_hard():
    """The pinned revision as the hub holds it: the 9-shard set of 10,980 rows, beside an older 5-shard set
    (which the pinned entry's glob leaves out)."""
    from core.data.hard import HARD_ROWS

    pinned = _hard_shards(tuple(HARD_ROWS // 9 + (1 if shard < HARD_ROWS % 9 else 0) for shard in range(9)), "p")
    older = _hard_shards((3, 3, 3, 3, 3), "o")
    return _hub("imagenet-hard", pinned | older), SOURCES["imagenet-hard"], pinned


OTHER_HARD_REVISION = "0c67117edcfe785bd54731287052b8c6239fed7a"
"""A real earlier commit of taesiri/imagenet-hard (31 Mar 2023 card, 13,925 rows); the mirror gives it a tiny
stand-in: two shard sets of other row counts (12 and 20 rows), so it is refused unless chosen with --files."""


def imagenet_hard_other_revision():
    sets = _hard_shards((6, 6), "a") | _hard_shards((5, 5, 5, 5), "b")
    return _hub("imagenet-hard", sets, OTHER_HARD_REVISION), sets


def pug_imagenet():
    classes = ("Goldfish", "Penguin")
    members = {f"PUG_ImageNet/{factor}/{name}/{factor}_{name}.png": _png()
               for factor in PUG_FACTORS for name in classes}
    members["PUG_ImageNet/labels_pug_imagenet.csv"] = b"filename,world_name\n"
    source = SOURCES["pug-imagenet"]
    mapping = json.dumps({"Goldfish": [1], "Penguin": [145]}).encode()
    served = {_path(source.remotes[0].url): tar_bytes(members), _path(source.remotes[1].url): mapping}
    return served, replace(source, images=len(classes) * len(PUG_FACTORS)), members


def imagenet_c(name: str = "imagenet-c"):
    """Every family archive (the tiny copy: 2 classes × 1 image per severity); counts patched to match."""
    served, members_all, md5s = {}, {}, {}
    for family, (corruptions, _, _) in IMAGENET_C_FAMILIES.items():
        members = {f"{corruption}/{severity}/{wnid}/ILSVRC2012_val_0000000{index}.JPEG": _jpeg(index)
                   for corruption in corruptions.split() for severity in "12345"
                   for index, wnid in enumerate(wnids()[:2])}
        data = tar_bytes(members, gz=False)
        served[f"/records/2235448/files/{family}.tar"] = data
        md5s[f"imagenet-c-{family}.tar"] = hashlib.md5(data).hexdigest()
        members_all.update(members)
    source = SOURCES[name]
    remotes = tuple(replace(remote, md5=md5s[remote.name], size=len(served[_path(remote.url)]))
                    for remote in source.remotes)
    return served, replace(source, remotes=remotes, classes=2, images=10 * len(source.members)), members_all


def published(name: str):
    """timm's six result tables or open_clip's one, tiny, in the publishers' formats; checksums of the tiny copy."""
    from tests.unit.data import published as tables

    source = SOURCES[name]
    data = {"timm-results": tables.timm_files, "timm-benchmarks": tables.benchmark_files}.get(
        name, lambda: {source.remotes[0].target: tables.openclip_file()})()
    served = {_path(remote.url): data[remote.target] for remote in source.remotes}
    remotes = tuple(replace(remote, sha256=hashlib.sha256(data[remote.target]).hexdigest()) for remote in source.remotes)
    return served, replace(source, remotes=remotes), {}


BUILDERS = {
    "cue-conflict": cue_conflict,
    "paper-decisions": lambda: decisions("paper-decisions"),
    "human-decisions": lambda: decisions("human-decisions"),
    "imagenet-v2": imagenet_v2,
    "imagenet-a": lambda: imagenet_a_r("imagenet-a"),
    "imagenet-r": lambda: imagenet_a_r("imagenet-r"),
    "imagenet-sketch": imagenet_sketch,
    "imagenet-hard": imagenet_hard,
    "pug-imagenet": pug_imagenet,
    "imagenet-c": imagenet_c,
    "timm-results": lambda: published("timm-results"),
    "openclip-results": lambda: published("openclip-results"),
    "timm-benchmarks": lambda: published("timm-benchmarks"),
}


def remote_path(remote: Remote) -> str:
    return _path(remote.url)
