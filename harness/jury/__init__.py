"""The jury: panels of LLM judges (panel), their prompts and replies (judge, reply_parse), voting methods (aggregate), views over ballots (views)."""
