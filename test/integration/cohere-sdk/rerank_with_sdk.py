"""Reranks through the official Cohere Python SDK (v2 and v1 clients) pointed at the gateway's HTTP API.

Usage: rerank_with_sdk.py BASE_URL < request.json, where request.json is {model, query, documents, top_n}.
Prints one JSON object: what each client parsed ("v2", "v1"), read through the SDK's typed fields, and how a request
for an unknown model failed ("not_found"). The integration test compares it with the gateway's gRPC answer.
"""

import json
import sys

import cohere
from cohere.errors import NotFoundError


def parsed(response, with_documents):
    """The SDK's typed view of a rerank response: if the SDK could not parse a field, reading it fails here."""
    return {
        "id": response.id,
        "results": [
            {
                "index": result.index,
                "relevance_score": result.relevance_score,
                **({"document": result.document.text} if with_documents else {}),
            }
            for result in response.results
        ],
        "api_version": response.meta.api_version.version,
        "search_units": response.meta.billed_units.search_units,
        "input_tokens": response.meta.tokens.input_tokens,
        "warnings": response.meta.warnings,
    }


def main():
    base_url = sys.argv[1]
    request = json.load(sys.stdin)
    # The gateway takes no API key yet; the SDK wants one.
    v2 = cohere.ClientV2(api_key="unused", base_url=base_url)
    v1 = cohere.Client(api_key="unused", base_url=base_url)
    answers = {
        "v2": parsed(v2.rerank(**request), with_documents=False),
        "v1": parsed(v1.rerank(**request, return_documents=True), with_documents=True),
    }
    try:
        v2.rerank(**{**request, "model": "no-such-model"})
        answers["not_found"] = None
    except NotFoundError as error:
        answers["not_found"] = {"error": type(error).__name__, "status": error.status_code, "body": error.body}
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
