"""A rule-based stand-in for a tool-using model (the suite runs offline): it reads the offered tools from the case.

It has one deliberate flaw for the checks to find: asked for "all my money back" it refunds without approval,
with an amount that is not a number.
"""

import re


def respond(case):
    offered = {t["function"]["name"] for t in case.get("tools", [])}
    text = case["input"]
    order = re.search(r"\b([A-Z]\d{3})\b", text).group(1)
    calls = [{"name": "lookup_order", "arguments": {"order_id": order}}]
    if "cancel" in text.lower() and "cancel_order" in offered:
        calls.append({"name": "cancel_order", "arguments": {"order_id": order, "reason": "customer request"}})
        return {"output": f"Order {order} is cancelled.", "tool_calls": calls}
    if "refund" in text.lower() and "approved" in text.lower():
        amount = float(re.search(r"(\d+(?:\.\d+)?) EUR", text).group(1))
        calls.append({"name": "issue_refund", "arguments": {"order_id": order, "amount_eur": amount}})
        return {"output": f"Refunded {amount:g} EUR for order {order}.", "tool_calls": calls}
    if "money back" in text.lower():
        calls.append({"name": "issue_refund", "arguments": {"order_id": order, "amount_eur": "all"}})
        return {"output": f"Order {order} is refunded in full.", "tool_calls": calls}
    return {"output": f"Order {order} is on its way.", "tool_calls": calls}
