"""ListMultipartUploads ``Initiated``: moto 5.2.5 answers a fixed 2010-11-10T20:48:33.000Z for every upload.

Real S3 reports when each upload was initiated, and "abort incomplete multipart uploads older than
N hours" depends on it. The layer notes the time of every successful CreateMultipartUpload (by
UploadId) and writes it into ListMultipartUploads responses. Uploads the layer did not see keep
moto's value.
"""

import datetime
import re
import threading

_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
_UPLOAD_BLOCK = re.compile(rb"<Upload>.*?</Upload>", re.DOTALL)
_INITIATED = re.compile(rb"<Initiated>[^<]*</Initiated>")


class MultipartInitiated:
    """Remembers when each multipart upload was created and puts that time into listings."""

    def __init__(self):
        self._lock = threading.Lock()
        self._initiated = {}

    def rewrite(self, operation, response_body):
        """Record (CreateMultipartUpload) or rewrite (ListMultipartUploads) a 200 response body."""
        if operation == "CreateMultipartUpload":
            match = _UPLOAD_ID.search(response_body)
            if match:
                stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                with self._lock:
                    self._initiated[match.group(1)] = stamp.encode()
            return response_body
        if operation != "ListMultipartUploads":
            return response_body

        def fix(block):
            text = block.group(0)
            match = _UPLOAD_ID.search(text)
            with self._lock:
                stamp = self._initiated.get(match.group(1)) if match else None
            if stamp is None:
                return text
            return _INITIATED.sub(b"<Initiated>" + stamp + b"</Initiated>", text, count=1)

        return _UPLOAD_BLOCK.sub(fix, response_body)
