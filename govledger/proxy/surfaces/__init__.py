"""Wire-format surfaces: OpenAI, Anthropic and Gemini."""
