"""Checking and storing uploads before they are queued: bad input changes nothing."""
import os
import re
import unicodedata
import uuid

from .extract import KINDS

_ODD = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')


class UploadRejected(ValueError):
    """Raised with a message for the user when an upload cannot be accepted."""
    status = 400   # what HTTP answers


class UploadTooLarge(UploadRejected):
    status = 413   # Payload Too Large, as for an oversized API body


def check_filename(filename):
    """The display name, or UploadRejected for names that look like paths or carry odd characters.

    Checked as people and file systems will read it: after Unicode normalisation (NFKC makes
    full-width "．．／" the "../" it looks like), and with no invisible format characters (a
    right-to-left override shows "invoice\u202efdp.txt" as "invoicetxt.pdf")."""
    if not filename or not filename.strip():
        raise UploadRejected('the file has no name')
    if any(unicodedata.category(ch) in ('Cf', 'Cc', 'Co', 'Cs', 'Cn') for ch in filename):
        raise UploadRejected('the file name has invisible or control characters (%r); rename the file' % filename)
    plain = unicodedata.normalize('NFKC', filename)
    if '/' in plain or '\\' in plain or plain.strip('.') == '' or '..' in plain:
        raise UploadRejected('file names may not contain a path (%r)' % filename)
    if _ODD.search(plain):
        raise UploadRejected('the file name has characters that are not allowed (%r)' % filename)
    if len(filename) > 200:
        raise UploadRejected('the file name is longer than 200 characters')
    ext = os.path.splitext(filename)[1].lower()
    if ext not in KINDS:
        raise UploadRejected('unsupported file type %r; accepted: %s' % (ext or filename, ', '.join(sorted(KINDS))))
    return filename.strip()


def check_content(head, ext):
    """Reject a file whose first bytes contradict its extension (a 'lying' type)."""
    if not head:
        raise UploadRejected('the file is empty')
    if KINDS[ext] == 'pdf' and not head.startswith(b'%PDF-'):
        raise UploadRejected('the file is named .pdf but is not a PDF')
    if KINDS[ext] == 'docx' and not head.startswith(b'PK\x03\x04'):
        raise UploadRejected('the file is named .docx but is not a Word document')
    if KINDS[ext] not in ('pdf', 'docx') and (b'\x00' in head or head.startswith(b'%PDF-')):
        raise UploadRejected('the file is named %s but holds binary data' % ext)


def save_upload(stream, filename, upload_dir, max_bytes, block=1 << 16):
    """Stream an upload into upload_dir under a generated name; returns (stored name, size).

    Nothing is left behind when the upload is rejected."""
    name = check_filename(filename)
    ext = os.path.splitext(name)[1].lower()
    os.makedirs(upload_dir, exist_ok=True)
    stored = '%s%s' % (uuid.uuid4().hex, ext)
    path = os.path.join(upload_dir, stored)
    size = 0
    try:
        with open(path, 'xb') as out:
            first = stream.read(block)
            check_content(first[:1024], ext)
            chunk = first
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge('the file is larger than the limit of %d MiB' % (max_bytes // (1 << 20)))
                out.write(chunk)
                chunk = stream.read(block)
    except BaseException:
        os.unlink(path)
        raise
    return stored, size
