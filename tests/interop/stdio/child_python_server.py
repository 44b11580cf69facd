"""A stdio MCP server of the Python SDK 2.3 (mcp): `MCPServer(...).run("stdio")`, which serves
both eras on one pipe (the first request decides). Run by mcpwire's stdio client
(`mcpwire call --stdio`). Tools: `echo {message}` answers the message; `progress {}` reports
progress twice, then answers "done"."""

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

mcp = MCPServer("child-python", version="1.0.0", log_level="WARNING")


@mcp.tool()
def echo(message: str) -> str:
    """Returns the message."""
    return message


@mcp.tool()
async def progress(ctx: Context) -> str:
    """Reports progress twice."""
    await ctx.report_progress(1, 2)
    await ctx.report_progress(2, 2)
    return "done"


mcp.run("stdio")
