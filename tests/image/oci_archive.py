"""Reads an OCI image archive (what `buildah push IMAGE oci-archive:FILE` writes) the way a runtime
would: index -> manifest -> config and layers, each blob checked against its digest."""

import gzip
import hashlib
import io
import json
import posixpath
import tarfile


class ArchiveError(Exception):
    pass


def _normalize(name):
    """A tar member's name as a relative path: "./usr/bin/" -> "usr/bin"; "./" -> "."."""
    name = name.lstrip("/")
    if name.startswith("./"):
        name = name[2:]
    return posixpath.normpath(name) if name else "."


def _digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class OciArchive:
    def __init__(self, path):
        self.path = path
        with tarfile.open(path) as archive:
            self._blobs = {}
            for member in archive.getmembers():
                if member.isfile():
                    self._blobs[_normalize(member.name)] = archive.extractfile(member).read()
        layout = json.loads(self._file("oci-layout"))
        if layout.get("imageLayoutVersion") != "1.0.0":
            raise ArchiveError(f"oci-layout: unexpected version {layout}")
        index = json.loads(self._file("index.json"))
        manifests = index.get("manifests", [])
        if len(manifests) != 1:
            raise ArchiveError(f"index.json lists {len(manifests)} manifests, not 1")
        self.index_entry = index["manifests"][0]
        self.manifest = json.loads(self.blob(self.index_entry["digest"]))
        self.config = json.loads(self.blob(self.manifest["config"]["digest"]))
        self.layers = self.manifest["layers"]

    def _file(self, name):
        if name not in self._blobs:
            raise ArchiveError(f"{self.path} has no {name}")
        return self._blobs[name]

    def blob(self, digest):
        """The blob's bytes, after checking they hash to `digest`."""
        algorithm, _, hex_digest = digest.partition(":")
        if algorithm != "sha256":
            raise ArchiveError(f"unexpected digest algorithm in {digest}")
        data = self._file(f"blobs/sha256/{hex_digest}")
        if _digest_of(data) != digest:
            raise ArchiveError(f"blob {digest} does not match its digest")
        return data

    def layer(self, number):
        """Layer `number`: (compressed bytes, uncompressed tar bytes); the uncompressed tar is
        checked against the config's diff_id."""
        descriptor = self.layers[number]
        if descriptor["mediaType"] != "application/vnd.oci.image.layer.v1.tar+gzip":
            raise ArchiveError(f"layer {number}: unexpected media type {descriptor['mediaType']}")
        compressed = self.blob(descriptor["digest"])
        if len(compressed) != descriptor["size"]:
            raise ArchiveError(
                f"layer {number}: {len(compressed)} bytes, the manifest says {descriptor['size']}")
        uncompressed = gzip.decompress(compressed)
        if _digest_of(uncompressed) != self.config["rootfs"]["diff_ids"][number]:
            raise ArchiveError(f"layer {number}: uncompressed content does not match its diff_id")
        return compressed, uncompressed


class LayerTree:
    """The entries of one layer tar by normalized path ("usr/bin/x"), with symlinks resolved
    inside the layer as a chroot would see them."""

    def __init__(self, tar_bytes):
        self.entries = {}
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as layer:
            for member in layer.getmembers():
                name = _normalize(member.name)
                if posixpath.basename(name).startswith(".wh."):
                    raise ArchiveError(f"whiteout {member.name} in a FROM scratch image")
                self.entries[name] = member

    def resolve(self, path, hops=0):
        """The entry name `path` leads to inside the layer, or None if it leads nowhere."""
        if hops > 40:
            return None
        resolved = ""
        parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
        for i, part in enumerate(parts):
            if part == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = posixpath.join(resolved, part) if resolved else part
            entry = self.entries.get(candidate)
            if entry is None:
                return None
            if entry.issym():
                target = entry.linkname
                base = "" if target.startswith("/") else posixpath.dirname(candidate)
                rest = "/".join(parts[i + 1 :])
                return self.resolve(posixpath.join(base, target, rest), hops + 1)
            resolved = candidate
        return resolved or "."
