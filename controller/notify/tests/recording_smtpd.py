"""An aiosmtpd handler for notify_tests: records each message it accepts, or refuses as told.

Run as: python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c recording_smtpd.RecordingHandler DIR MODE
(with this directory on PYTHONPATH). Each accepted message becomes DIR/mail-N.json with
mail_from, rcpt_tos, tls (whether the session had switched to TLS) and content (the message as
received, decoded as UTF-8). MODE is one of:
  accept         accept every recipient and message
  refuse-rcpt    refuse every recipient with 550 (a permanent failure)
  tempfail-rcpt  refuse every recipient with 451 (a temporary failure)
The file is written before the 250 reply to the data, so a client that saw 250 finds it.
"""

import json
import os

MODES = ("accept", "refuse-rcpt", "tempfail-rcpt")


class RecordingHandler:
    def __init__(self, out_dir, mode="accept"):
        if mode not in MODES:
            raise SystemExit(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        self.out_dir = out_dir
        self.mode = mode
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) not in (1, 2):
            parser.error("RecordingHandler takes DIR [MODE]")
        return cls(*args)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "refuse-rcpt":
            return "550 5.1.1 mailbox unavailable"
        if self.mode == "tempfail-rcpt":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
            "content": envelope.original_content.decode("utf-8", "replace"),
        }
        final = os.path.join(self.out_dir, f"mail-{self.count}.json")
        with open(final + ".tmp", "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(final + ".tmp", final)
        return "250 Message accepted for delivery"
