"""The resident roar: a warm process that `roar run` hands its work to.

Importing roar's run path (asyncio, click, anyio, msgspec, the recorder, the store) takes about
100 ms, more than the rest of a short job's bookkeeping together. A resident roar imports it once
and forks a copy per request, so the `roar` a user types only has to connect, pass its argv,
environment, working directory and terminal descriptors, and wait.

The command itself is still started by the `roar` the user typed (``client``), not by the
resident process: it stays in the terminal's session and process group, so Ctrl-C, Ctrl-Z,
`/dev/tty` and job control behave exactly as without roar. The forked copy (``server``) asks the
client to start each process it would have started itself (``remote``) and is told when each one
ends. Signals the client receives are passed to the forked copy, which handles them as an
in-process `roar run` does.

``address`` names the socket: one resident process per user, interpreter and roar installation
(a changed source file means a new one), in a directory only the user can enter.
"""
