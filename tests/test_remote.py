"""The server policy against a scripted OpenAI-compatible server on 127.0.0.1 (stdlib only):
fan-out when a server ignores ``n``, stop strings applied here, retries, clear errors, the
chat endpoint for a model this machine cannot read."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import tsc
from tsc.compute import Ledger
from tsc.lm.remote import ChatPrompt, RemotePolicy
from tsc.strategies import majority_vote
from tsc.tasks import Countdown

P = Countdown((13, 4, 7, 2), 48)
ANSWER = "13-7=6,6*4=24,24*2=48."


class Script:
    """What the fake server does: its models, whether it honours n and stop, failures to inject."""

    def __init__(self, models=("countdown",), honours_n=True, refuses_stop=False, fail_first=0, status=None, logprobs="basic"):
        self.models, self.honours_n, self.refuses_stop = list(models), honours_n, refuses_stop
        self.logprobs = logprobs  # "basic": two values; "rich": one per character with alternatives; None: none (transformers serve)
        self.fail_first, self.status = fail_first, status
        self.requests: list[dict] = []


def rich(text: str, k: int) -> tuple[list[float], list[list[float]]]:
    """One log-probability per character, lower in the second half, and k alternatives each."""
    values = [-0.1 if t < len(text) // 2 else -1.2 for t in range(len(text))]
    return values, [[v] + [v - 1.0 - j for j in range(k - 1)] for v in values]


def text_logprobs(script: Script, body: dict, text: str):
    if script.logprobs is None:
        return None
    if script.logprobs == "basic":
        return {"token_logprobs": [-0.5, -0.25]}
    k = int(body.get("logprobs") or 0)
    values, alternatives = rich(text, max(k, 1))
    tops = [{f"alt{j}" if j else ch: a for j, a in enumerate(alts[:k])} for ch, alts in zip(text, alternatives)]
    return {"tokens": list(text), "token_logprobs": values, "top_logprobs": tops}


def chat_logprobs(script: Script, body: dict, content: str):
    if script.logprobs is None or not body.get("logprobs"):
        return None
    k = int(body.get("top_logprobs") or 0)
    values, alternatives = rich(content, max(k, 1))
    return {
        "content": [
            {"token": ch, "logprob": v, "top_logprobs": [{"token": f"t{j}", "logprob": a} for j, a in enumerate(alts[:k])]}
            for ch, v, alts in zip(content, values, alternatives)
        ]
    }


def serve(script: Script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def reply(self, code: int, payload: dict):
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            entries = [{"id": m, "object": "model", **({"status": {"value": "loaded"}} if script.status else {})} for m in script.models]
            self.reply(200, {"object": "list", "data": entries})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append(body)
            if script.fail_first > 0:
                script.fail_first -= 1
                return self.reply(503, {"error": {"message": "warming up"}})
            if body.get("max_tokens") == 13:
                return self.reply(400, {"error": {"message": "max_tokens too small for this model"}})
            if script.refuses_stop and "stop" in body:
                return self.reply(500, {"detail": "cannot match stop strings"})
            n = body.get("n", 1) if script.honours_n else 1
            text = ANSWER + "junk after the stop" if "stop" not in body else ANSWER
            if self.path.endswith("/chat/completions"):
                content = "13 - 7 = 6\n6 * 4 = 24\n24 * 2 = 48\nAnswer: (13-7)*4*2"
                message = {"role": "assistant", "content": content}
                logprobs = chat_logprobs(script, body, content)
                choices = [{"index": i, "message": message, "finish_reason": "stop", "logprobs": logprobs} for i in range(n)]
            else:
                logprobs = text_logprobs(script, body, text)
                choices = [{"index": i, "text": text, "finish_reason": "stop", "logprobs": logprobs} for i in range(n)]
            self.reply(200, {"choices": choices, "usage": {"prompt_tokens": 13, "completion_tokens": 25 * n, "total_tokens": 13 + 25 * n}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def server():
    started = []

    def start(script: Script):
        httpd, url = serve(script)
        started.append(httpd)
        return url

    yield start
    for httpd in started:
        httpd.shutdown()


def test_a_bundled_model_served_by_name_is_prompted_and_charged_as_the_local_one(server):
    script = Script()
    policy = tsc.load_policy(server(script))
    local = tsc.load_policy("countdown", device="cpu")
    assert isinstance(policy, RemotePolicy) and policy.prompt_format == "compact" and policy.flops_known
    assert policy.format(P) == local.format(P) and policy.n_params == local.n_params
    ledger = Ledger()
    [row] = policy.sample([policy.format(P)], n=3, temperature=0.7, seed=5, ledger=ledger)
    assert [c.text for c in row] == [ANSWER] * 3 and row[0].logprob == -0.75
    request = script.requests[0]
    assert request["prompt"] == "<bos>" + local.format(P) and request["n"] == 3 and request["stop"] == ["."]
    assert request["temperature"] == 0.7 and request["seed"] == 5 and request["model"] == "countdown"
    assert ledger.prompt_tokens == 13 and ledger.generated_tokens == 75 and ledger.samples == 3
    assert ledger.flops == local.flops(13, 0) + sum(local.flops(13, c.num_tokens) - local.flops(13, 0) for c in row)


def test_a_server_that_ignores_n_gets_one_request_per_sample(server):
    script = Script(honours_n=False)
    policy = tsc.load_policy(server(script), max_concurrency=3)
    result = majority_vote(P, policy, n=4, seed=10)
    assert result.correct and len(result.candidates) == 4
    assert [r["n"] for r in script.requests] == [4, 1, 1, 1]
    assert script.requests[0]["seed"] == 10 and sorted(r["seed"] for r in script.requests[1:]) == [11, 12, 13]
    assert result.ledger.samples == 4 and result.ledger.generated_tokens == 100


def test_stop_strings_are_applied_here_when_the_server_refuses_them(server):
    script = Script(refuses_stop=True)
    policy = tsc.load_policy(server(script))
    [[completion]] = policy.sample([policy.format(P)], n=1, temperature=0.0)
    assert completion.text == ANSWER  # cut after the first '.'
    assert "stop" in script.requests[0] and "stop" not in script.requests[1]
    policy.sample([policy.format(P)], n=1)
    assert "stop" not in script.requests[2]  # remembered


def test_transformers_serve_is_asked_to_sample(server):
    script = Script(status=True)
    policy = tsc.load_policy(server(script))
    policy.sample([policy.format(P)], n=1, temperature=0.9, top_p=0.8)
    config = json.loads(script.requests[0]["generation_config"])
    assert config["do_sample"] is True and config["temperature"] == 0.9 and config["top_p"] == 0.8
    policy.sample([policy.format(P)], n=1, temperature=0.0)
    assert "generation_config" not in script.requests[1]


def test_dropped_requests_are_retried(server):
    script = Script(fail_first=2)
    policy = RemotePolicy(server(script), retries=3)
    [[completion]] = policy.sample([policy.format(P)], temperature=0.0)
    assert completion.text == ANSWER and len(script.requests) == 3


def test_failures_are_one_clear_line(server):
    url = server(Script(models=("a", "b")))
    with pytest.raises(ValueError, match="serves 2 models .*a, b.*choose one"):
        tsc.load_policy(url)
    with pytest.raises(ValueError, match="does not serve 'c'; it serves: a, b"):
        tsc.load_policy(url, model="c")
    policy = tsc.load_policy(url, model="a", prompt_format="compact")
    with pytest.raises(ValueError, match="refused the request: HTTP 400: max_tokens too small"):
        policy.sample([P.prompt()], max_new_tokens=13)
    with pytest.raises(ValueError, match="cannot reach the server at http://127.0.0.1:9/v1 .* is it running"):
        RemotePolicy("http://127.0.0.1:9/v1", retries=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        RemotePolicy(url, model="a", max_concurrency=0)


def test_a_served_checkpoint_counts_prompt_tokens_as_the_local_model_reads_them(server, tmp_path):
    """`encode` (what budget forcing checks a prompt's length with) is the local model's: a
    ``text`` model whose tokenizer starts every text with its BOS token counts it (the server's
    policy used to leave it out)."""
    from real_models import build_gpt2

    folder = build_gpt2(tmp_path / "gpt2")
    policy = tsc.load_policy(server(Script(models=(str(folder),))))
    local = tsc.load_policy(str(folder), device="cpu")
    for model in (policy, local):  # as a Llama or Gemma tokenizer does
        model.tokenizer.bos_token, model.tokenizer.add_bos_token = "<|endoftext|>", True
    prompts = [policy.format(P)]
    assert policy.prompt_format == local.prompt_format == "text" and prompts == [local.format(P)]
    assert policy.encode(prompts) == local.encode(prompts) and policy.encode(prompts)[0][0] == local.tokenizer.bos_token_id


def test_a_model_this_machine_cannot_read_gets_chat_messages(server):
    script = Script(models=("Qwen/Qwen2.5-0.5B-Instruct",))
    policy = tsc.load_policy(server(script))
    assert policy.prompt_format == "chat" and not policy.flops_known
    prompt = policy.format(P)
    assert isinstance(prompt, ChatPrompt) and prompt.messages[-1]["content"] == "Numbers: 13, 4, 7, 2. Target: 48."
    result = majority_vote(P, policy, n=2)
    assert result.correct and script.requests[0]["messages"] == prompt.messages and "stop" not in script.requests[0]
    assert result.ledger.flops_known is False and result.ledger.to_json()["flops"] is None
    declared = tsc.load_policy(server(Script(models=("big",))), params=7_000_000_000)
    assert declared.n_params == 7_000_000_000 and declared.flops_known
    assert declared.flops(10, 5) == 2 * 7_000_000_000 * 15  # 2N per token; the attention term needs the layers


def test_token_log_probabilities_in_the_completions_format(server):
    script = Script(logprobs="rich")
    policy = tsc.load_policy(server(script))
    [[c]] = policy.sample([policy.format(P)], n=1, temperature=0.0, top_logprobs=3)
    assert script.requests[0]["logprobs"] == 3
    assert len(c.token_logprobs) == len(c.top_logprobs) == len(ANSWER) and c.logprob == sum(c.token_logprobs)
    assert all(len(top) == 3 and list(top) == sorted(top, reverse=True) for top in c.top_logprobs)
    assert c.top_logprobs[0] == (-0.1, -1.1, -2.1)
    [[plain]] = policy.sample([policy.format(P)], n=1, temperature=0.0)
    assert script.requests[1]["logprobs"] == 1 and plain.top_logprobs == () and len(plain.token_logprobs) == len(ANSWER)


def test_token_log_probabilities_in_the_chat_format(server):
    script = Script(models=("Qwen/Qwen2.5-0.5B-Instruct",), logprobs="rich")
    policy = tsc.load_policy(server(script))
    [[c]] = policy.sample([policy.format(P)], n=1, top_logprobs=2)
    assert script.requests[0]["logprobs"] is True and script.requests[0]["top_logprobs"] == 2
    assert len(c.token_logprobs) == len(c.top_logprobs) > 10 and all(len(top) == 2 for top in c.top_logprobs)


def test_a_confidence_cut_is_applied_here_and_the_whole_completion_charged(server):
    from tsc.core import confidence_cut

    policy = tsc.load_policy(server(Script(logprobs="rich")))
    ledger = Ledger()
    [[c]] = policy.sample([policy.format(P)], n=1, top_logprobs=2, confidence_stop=(3, 1.0), ledger=ledger)
    values, alternatives = rich(ANSWER, 2)
    at = confidence_cut(alternatives, 3, 1.0)
    assert c.cut_off and at < len(ANSWER) and c.text == ANSWER[:at] and len(c.token_logprobs) == at
    assert ledger.generated_tokens == 25  # the server wrote all of it


def test_a_server_without_log_probabilities_says_so(server):
    policy = tsc.load_policy(server(Script(logprobs=None)))
    [[c]] = policy.sample([policy.format(P)], n=1)
    assert c.token_logprobs == () and math.isnan(c.logprob)
    with pytest.raises(ValueError, match="returned no log-probabilities .*top_logprobs=4.*transformers serve does not"):
        policy.sample([policy.format(P)], n=1, top_logprobs=4)
