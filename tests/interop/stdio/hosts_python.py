"""A real host launches the server over stdio: the Python SDK 2.3 `Client` with
`StdioServerParameters`, in one mode: "legacy" (initialize, the session era), "2026-07-28"
(adopted without a probe: every request carries its `_meta`) or "auto" (a `server/discover`
probe on the same pipe, which a 2026-07-28 server answers, so it must speak 2026-07-28).

It lists the tools, calls `echo` and `test_tool_with_progress` (at least one progress
notification must arrive), and closes; then nothing it launched may be left: no process
carrying the run's marker (MCPWIRE_STDIO_CHILD=<marker> in its environment) and no child of
this process, not even a zombie. The SDK's own close is stdin closed, 2 s, SIGTERM to the
process group, 2 s, SIGKILL. The server's stderr goes to this script's stderr (the SDK's
default, which never blocks the child). Every call and the whole run are bounded.

Usage: python hosts_python.py legacy|2026-07-28|auto COMMAND [ARGS...]
"""

import os
import signal
import sys

import anyio
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

MARKER_VARIABLE = "MCPWIRE_STDIO_CHILD"
marker = os.environ.get("MCPWIRE_STDIO_MARKER") or f"host-{os.getpid()}"
CALL_SECONDS = 15
RUN_SECONDS = 60

passed = 0
failed = 0


def check(ok: bool, what: str, detail: object = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}", flush=True)
    else:
        failed += 1
        print(f"not ok - {what}: {detail!r}", flush=True)
    return ok


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # gone, or not ours to read
        return None


def marked() -> list[tuple[int, str]]:
    """Live processes (a zombie's environ is empty) carrying this run's marker."""
    entry = f"{MARKER_VARIABLE}={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        environ = read(f"/proc/{name}/environ")
        if environ is not None and entry in environ.split(b"\0"):
            cmdline = (read(f"/proc/{name}/cmdline") or b"").replace(b"\0", b" ").decode(errors="replace")
            found.append((int(name), cmdline.strip()))
    return found


def children() -> list[tuple[int, str]]:
    """This process's children, zombies included, with their state letter."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = read(f"/proc/{name}/stat")
        if stat is None:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split(b" ")
        if int(fields[1]) == os.getpid():
            found.append((int(name), fields[0].decode()))
    return found


async def settles(poll, seconds: float) -> bool:
    with anyio.move_on_after(seconds):
        while not poll():
            await anyio.sleep(0.02)
        return True
    return bool(poll())


async def main(mode: str, command: list[str]) -> None:
    params = StdioServerParameters(command=command[0], args=command[1:], env={MARKER_VARIABLE: marker})
    # Connecting is bounded by the run's deadline; the SDK's close (2 s + 2 s + 2 s, shielded from
    # cancellation) by its own steps.
    async with Client(params, mode=mode) as client:
        version = client.session.protocol_version
        if mode == "legacy":
            check(version is not None and version != "2026-07-28", "initialize: speaks a session-era revision", version)
        else:
            check(version == "2026-07-28", "speaks 2026-07-28", version)
        running = marked()
        check(len(running) == 1, "exactly one process with the marker runs: the server", running)
        check([pid for pid, _ in running] == [pid for pid, _ in children()],
              "the server is this process's only child", (running, children()))

        with anyio.fail_after(CALL_SECONDS):
            tools = await client.list_tools()
        names = {tool.name for tool in tools.tools}
        check({"echo", "test_tool_with_progress"} <= names, "tools/list has echo and test_tool_with_progress", sorted(names))

        text = f"stdio grüße python {mode}"
        echo = await client.call_tool("echo", {"text": text}, read_timeout_seconds=CALL_SECONDS)
        check(not echo.is_error and echo.content[0].text == text, "echo returns its text", echo)

        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        result = await client.call_tool(
            "test_tool_with_progress", {}, read_timeout_seconds=CALL_SECONDS, progress_callback=on_progress
        )
        check(not result.is_error, "test_tool_with_progress succeeds", result)
        check(len(progress) >= 1, "at least one progress notification arrives", progress)
    check(await settles(lambda: not children(), 5), "after close no child of the host is left, not even a zombie", children())
    check(await settles(lambda: not marked(), 5), "no process with the marker is left", marked())


def on_deadline(_signum, _frame) -> None:
    check(False, f"the host finished within its {RUN_SECONDS} s deadline", marked())
    for pid, _ in marked():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    print(f"stdio host: Python SDK 2.3 Client, mode={sys.argv[1]!r}: {passed} passed, {failed} failed", flush=True)
    os._exit(1)


if len(sys.argv) < 3 or sys.argv[1] not in ("legacy", "2026-07-28", "auto"):
    print(__doc__.strip().splitlines()[-1], file=sys.stderr)
    sys.exit(2)
mode = sys.argv[1]
signal.signal(signal.SIGALRM, on_deadline)
signal.alarm(RUN_SECONDS)
try:
    anyio.run(main, mode, sys.argv[2:])
except Exception as error:  # noqa: BLE001 - any failure is a failed check, reported


    def leaves(e: BaseException) -> list[str]:
        if isinstance(e, BaseExceptionGroup):
            return [leaf for inner in e.exceptions for leaf in leaves(inner)]
        return [f"{type(e).__name__}: {e}"]

    check(False, "the host ran to the end", leaves(error))
signal.alarm(0)
for pid, _ in marked():
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
print(f"stdio host: Python SDK 2.3 Client, mode={mode!r}: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
