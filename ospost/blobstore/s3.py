"""The S3 backend: blobs are objects in one bucket (AWS S3, MinIO, Cloudflare
R2, Backblaze B2 ... anything speaking the S3 API), shared by every host.

One boto3 client per process (boto3 clients are thread-safe), with connect and
read timeouts and a few retries, so a slow or unreachable endpoint fails a
step instead of hanging a worker. Every error becomes a ``BlobError``. The
bucket stays private: Meta's crawler gets a presigned GET URL that expires,
and people see their media through Ospost after its owner check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError

from ospost.blobstore import BlobError
from ospost.blobstore import BlobInfo
from ospost.blobstore import BlobNotFound
from ospost.blobstore import check_key
from ospost.blobstore import content_type

log = logging.getLogger(__name__)

MISSING = {"NoSuchKey", "404", "NotFound"}
# Files above this go up in parts of this size (streamed, never whole).
TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024**2, multipart_chunksize=16 * 1024**2
)


class S3Blobs:
    """Blobs as objects in an S3-compatible bucket (several hosts)."""

    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_config(cls, config) -> S3Blobs:
        connect, read = config["S3_TIMEOUT"]
        endpoint = config.get("S3_ENDPOINT_URL") or None
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=config.get("S3_REGION") or "us-east-1",
            aws_access_key_id=config.get("S3_ACCESS_KEY_ID") or None,
            aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY") or None,
            config=Config(
                connect_timeout=connect,
                read_timeout=read,
                retries={"max_attempts": config["S3_ATTEMPTS"], "mode": "standard"},
                signature_version="s3v4",
                # Every publishing thread may stage a copy at once.
                max_pool_connections=config.get("PUBLISH_THREADS", 16) + 8,
                # MinIO and most self-hosted endpoints want the bucket in the path.
                s3={"addressing_style": "path" if endpoint else "auto"},
            ),
        )
        return cls(client, config["S3_BUCKET"], config.get("S3_PREFIX") or "")

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes | BinaryIO, *, public: bool = False) -> None:
        # ``public`` means nothing here: the bucket is private and the crawler
        # gets a presigned URL.
        # The type Meta's crawler (and a browser) is told when it fetches it.
        extra = {"ContentType": content_type(key)}
        with _errors(key):
            if isinstance(data, bytes | bytearray | memoryview):
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, **extra
                )
            else:
                self.client.upload_fileobj(
                    data, self.bucket, self._key(key), ExtraArgs=extra, Config=TRANSFER
                )

    def put_file(self, key: str, path: Path, *, public: bool = False) -> None:
        # Streamed from the file as ``put`` does (in parts above 16 MiB); the
        # caller's work folder removes the file.
        with open(path, "rb") as fh:
            self.put(key, fh, public=public)

    def open(self, key: str) -> BinaryIO:
        with _errors(key):
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        return answer["Body"]

    def read(self, key: str) -> bytes:
        body = self.open(key)
        try:
            with _errors(key):
                return body.read()
        finally:
            body.close()

    def size(self, key: str) -> int | None:
        try:
            with _errors(key):
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except BlobNotFound:
            return None
        return head["ContentLength"]

    def copy(self, source: str, target: str, *, public: bool = False) -> None:
        with _errors(source):
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self._key(target),
                CopySource={"Bucket": self.bucket, "Key": self._key(source)},
            )

    def delete(self, *keys: str) -> None:
        self._delete([self._key(k) for k in keys])

    def delete_prefix(self, prefix: str) -> None:
        self._delete([self.prefix + info.key for info in self.list(prefix)])

    def _delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 1000):  # S3's limit per request
            batch = [{"Key": n} for n in names[start : start + 1000]]
            with _errors(batch[0]["Key"]):
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise BlobError(f"S3 kept {first.get('Key')}: {first.get('Message')}")

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + check_key(prefix.rstrip("/")) + "/"
        )
        with _errors(prefix):
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][len(self.prefix) :]
                    yield BlobInfo(key, item["Size"], item["LastModified"])

    def presigned_url(self, key: str, seconds: int) -> str:
        with _errors(key):
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=seconds,
            )

    def local_path(self, key: str) -> None:
        return None


class _errors:
    """Turn botocore's exceptions into ``BlobError``/``BlobNotFound``."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MISSING:
                raise BlobNotFound(self.key) from exc
            raise BlobError(f"S3 refused {self.key}: {code or exc}") from exc
        if isinstance(exc, BotoCoreError):
            raise BlobError(f"S3 unreachable for {self.key}: {exc}") from exc
        return False
