"""The staff desk: the ticket queue, working a ticket, proving ownership, and assisted recovery.

Rules that make it safe by construction:
- recovery only on a ticket whose latest ownership check says VERIFIED, and only for that account;
- staff never see or set a password: recovery is always a reset link the owner uses themselves;
- moving an account to a new e-mail needs a second person (an ADMIN who did not request it), changes
  nothing until the new address spends its link, and is announced to the old address;
- removing a lost second factor needs the same second person and is announced to the account's address;
- every step is one audit event with actor, subject, ticket number and client address.
"""

from portal.support.desk.common import MESSAGE_MAX, NOTE_MAX, TicketDetails
from portal.support.desk.ownership import verify_ownership
from portal.support.desk.queue import QueueRow, list_tickets, ticket_details
from portal.support.desk.recovery import (
    decide_email_change,
    propose_second_factor_removal,
    refuse_decision_by_role,
    request_email_change,
    send_reset_link,
)
from portal.support.desk.work import add_note, assign, change_status

__all__ = [
    "MESSAGE_MAX", "NOTE_MAX", "QueueRow", "TicketDetails", "add_note", "assign", "change_status",
    "decide_email_change", "list_tickets", "propose_second_factor_removal", "refuse_decision_by_role",
    "request_email_change", "send_reset_link",
    "ticket_details", "verify_ownership",
]
