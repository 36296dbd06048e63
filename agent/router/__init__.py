"""Words -> plan, by rules, with no model: ``route()`` and what it reads.

``route`` (the entry) cuts a message into clauses (``clauses``), reads each clause's
request (``readers``, with the phrase tables of ``phrases``) and binds the requests to
artifacts and earlier steps into a ``Plan`` (``plan``: the ``$n.text`` reference grammar).
Importing this package loads no model library.
"""

from agent.router.plan import Plan, Step, step_ref
from agent.router.rules import ConversationState, describe_capabilities, route

__all__ = ["ConversationState", "Plan", "Step", "describe_capabilities", "route", "step_ref"]
