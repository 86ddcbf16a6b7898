"""The embedded model as a litellm custom provider (`local/...`), registered on the litellm module harness/llm.py hands over."""

from __future__ import annotations

from typing import Any


def register(litellm: Any) -> None:
    """Route `local/<model>` to harness.local.provider as a litellm custom provider, so the embedded model is a
    model string like any other (targets and judges). litellm strips the prefix and hands us its
    optional_params (temperature, max_tokens, seed, response_format, ...)."""
    if any(item.get("provider") == "local" for item in litellm.custom_provider_map):
        return

    def respond(model_response: Any, model: str, result: Any) -> Any:
        model_response.choices[0].message.content = result.text
        model_response.choices[0].finish_reason = result.finish_reason
        model_response.model = f"local/{model}"
        model_response.usage = litellm.Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens,
            prompt_tokens_details={"cached_tokens": result.cached_tokens},
        )
        return model_response

    def seconds(timeout: Any) -> float | None:
        return float(timeout) if isinstance(timeout, (int, float)) else getattr(timeout, "read", None)

    def failure(exc: Exception, model: str) -> Exception:  # litellm's own kinds pass through its mapping as they are
        if isinstance(exc, TimeoutError):
            return litellm.Timeout(message=str(exc), model=f"local/{model}", llm_provider="local")
        if isinstance(exc, ValueError):  # an unknown model, a bad response_format, a prompt too long
            return litellm.BadRequestError(message=str(exc), model=f"local/{model}", llm_provider="local")
        return exc

    class LocalProvider(litellm.CustomLLM):  # litellm calls these with keyword arguments only
        def completion(
            self,
            *,
            model: str,
            messages: list,
            model_response: Any,
            optional_params: dict,
            timeout: Any = None,
            **_: Any,
        ) -> Any:
            from harness.local import provider as local_model

            try:
                result = local_model.complete_model(model, messages, **optional_params, timeout_s=seconds(timeout))
            except (TimeoutError, ValueError) as exc:
                raise failure(exc, model) from exc
            return respond(model_response, model, result)

        async def acompletion(
            self,
            *,
            model: str,
            messages: list,
            model_response: Any,
            optional_params: dict,
            timeout: Any = None,
            **_: Any,
        ) -> Any:
            from harness.local import provider as local_model

            try:
                result = await local_model.acomplete_model(
                    model, messages, **optional_params, timeout_s=seconds(timeout)
                )
            except (TimeoutError, ValueError) as exc:
                raise failure(exc, model) from exc
            return respond(model_response, model, result)

    litellm.custom_provider_map.append({"provider": "local", "custom_handler": LocalProvider()})
