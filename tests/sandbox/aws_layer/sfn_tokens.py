"""Step Functions task tokens are single-use, which moto 5.2.5 does not enforce.

Real Step Functions: once SendTaskSuccess/SendTaskFailure has been accepted for a token, another
call with it fails (``InvalidToken``/``TaskDoesNotExist``). moto's callback pool lets a second call
overwrite the first outcome until the execution's worker has picked it up. ``install()`` makes a
token that already has an outcome unknown to ``notify`` (the provider then answers ``InvalidToken``).
"""


def install():
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager  # pylint: disable=import-outside-toplevel

    original = CallbackPoolManager.notify
    if getattr(original, "_single_use", False):
        return

    def notify(self, callback_id, outcome):
        endpoint = self._pool.get(callback_id, None)
        if endpoint is not None and endpoint.get_outcome() is not None:
            return False
        return original(self, callback_id, outcome)

    notify._single_use = True
    CallbackPoolManager.notify = notify
