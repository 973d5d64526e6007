"""Sending email exactly once per business event (X-3)."""

import logging
import smtplib
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from activities.context import ActivityContext
from domain.email_address import NotAnEmailAddress, normalise_email
from domain.mail import build_message, render
from store.db import session_scope
from store.models import SentEmail, utcnow


@dataclass
class MailRequest:
    business_key: str  # e.g. "initial-password-expired:42:1"; one email per key, ever
    recipient: str
    template: str
    language: str = "ja"
    context: dict[str, str] = field(default_factory=dict)


log = logging.getLogger("certdesk.mail")


class MailActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="send_email")
    def send_email(self, req: MailRequest) -> bool:
        """Returns False when this business event was already mailed."""
        settings = self.ctx.settings
        try:
            # The address alone, re-checked here too: a stored "a@x,postmaster" or "x <a@evil>" never goes out.
            recipient = normalise_email(req.recipient)
        except NotAnEmailAddress:
            # Never sent, and the process goes on (a mail is never worth failing a registration or an
            # application for); the stored address is what staff must correct.
            log.warning("mail %s not sent: the recipient is not one plain e-mail address", req.business_key)
            return False
        mail = render(req.template, req.language, {"public_url": settings.resolved_public_url, **req.context})
        with session_scope(self.ctx.engine) as s:
            row = s.exec(select(SentEmail).where(SentEmail.business_key == req.business_key)).first()
            if row is not None and row.state == "sent":
                return False
        if row is None:
            try:
                with session_scope(self.ctx.engine) as s:
                    s.add(SentEmail(business_key=req.business_key, recipient=recipient,
                                    subject=mail.subject, template=req.template))
            except IntegrityError:
                pass  # a concurrent attempt claimed the key first; it or we will send
        message = build_message(mail, settings.mail_from, recipient, req.business_key)
        host = settings.smtp_host or "127.0.0.1"
        with smtplib.SMTP(host, settings.smtp_port, timeout=30) as smtp:
            smtp.send_message(message, to_addrs=[recipient])  # the envelope: this address, never the headers' list
        with session_scope(self.ctx.engine) as s:
            row = s.exec(select(SentEmail).where(SentEmail.business_key == req.business_key)).one()
            row.state, row.sent_at = "sent", utcnow()
            s.add(row)
        return True
