# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception root of signalcraft.ops.

Why one root: the module skeleton (``core/base.py``) has a single failure path. Anything a domain
helper raises on purpose is an ``OpsError`` carrying the stable ``reason`` token operators grep for
(registered in ``core/reasons.py``), a message that names the bad input and the fix, structured
``details`` for the result and receipt, and ``changed_so_far`` so a failure after a partial write
still reports ``changed=true`` honestly. Domain errors (guards, pointers, publish, retention, ...)
subclass it and keep their names, so ``except GuardError`` stays meaningful where it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class OpsError(Exception):
    """A refusal or failure with a registered ``reason`` token.

    ``details`` is a dict merged into the module's ``outputs`` (what was known or done before the
    failure); ``changed_so_far`` is true when something was already written.
    """

    def __init__(self, reason, message, details=None, changed_so_far=False, failure_code=None):
        super(OpsError, self).__init__(message)
        self.reason = reason
        self.message = message
        self.details = details if details is not None else {}
        self.changed_so_far = bool(changed_so_far)
        # What the receipt files the failure under when that is more specific than the token, e.g.
        # a workload's own failure code (FORCED_FAILURE) for reason=task_failed.
        self.failure_code = failure_code

    def add_context(self, known, changed_so_far=False):
        """Put what the step knew before it failed (``known``) under this error's own details, and note
        whether it had already written, so the failure's outputs and receipt keep both; returns the error.

        The error's own details win over ``known``: they say more precisely what went wrong.
        """
        details = dict(known)
        details.update(self.details or {})
        self.details = details
        self.changed_so_far = self.changed_so_far or bool(changed_so_far)
        return self

    def __str__(self):
        return self.message
