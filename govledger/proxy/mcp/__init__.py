"""MCP tool filtering: which tools a key may see and run, offered on chat requests as
functions named `client-tool`, and executed through `POST /v1/mcp/tool/execute`."""
