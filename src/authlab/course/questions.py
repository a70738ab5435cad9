"""The interview practice bank: questions of four kinds, read from ``data/interview.json``.

* ``choice``: one letter, as shown to this learner, or the option's own words: options are
  shown in an order shuffled per learner (seeded, so a grader can show the same order
  again), and an answer is graded by the option it names, never by its position;
* ``order``: the letters of the shuffled steps, in the right order (``"CADB"``);
* ``status``: the HTTP status a request gets (``401``);
* ``open``: an answer said aloud or written; its model answer and a rubric (the points a good
  answer makes), shown after an attempt for the learner to check their own answer against.
  An open question that a notebook grades (``graded_in`` names the exercise) has neither: its
  model answer and rubric live only in the solution notebook, never in the learner's kit.

:mod:`authlab.course.quiz` asks them and gives the feedback.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import data_path
from ..errors import ConfigurationError

__all__ = ["KINDS", "LETTERS", "Question", "QuestionBank", "load_bank", "option_in_words"]

KINDS = ("choice", "order", "status", "open")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def option_in_words(response: str, options: tuple[str, ...] | list[str]) -> int | None:
    """The index of the one option whose text contains ``response`` (case and spacing
    ignored; at least 3 characters), or ``None`` when it fits none or several."""
    wanted = " ".join(str(response).lower().split())
    if len(wanted) < 3:
        return None
    found = [i for i, option in enumerate(options) if wanted in " ".join(option.lower().split())]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Question:
    """One practice question. ``answer`` is a letter, a status code, or a step order."""

    id: str
    kind: str
    topic: str
    source: str
    prompt: str
    hint: str
    options: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    answer: Any = None
    explanation: str = ""
    model_answer: str = ""
    rubric: tuple[str, ...] = ()
    graded_in: str = ""  # for an open question graded in a notebook: which exercise

    @property
    def graded(self) -> bool:
        """Whether a notebook grades this question (then the bank holds no model answer)."""
        return bool(self.graded_in)

    def option_order(self, learner: str | None = None) -> list[int]:
        """For a ``choice`` question: the indices of the options in the order ``learner`` sees them.

        Seeded by the learner and the question, so the same learner always sees the same
        order and a grader can reproduce it; ``None`` keeps the file's order.
        """
        order = list(range(len(self.options)))
        if learner is not None:
            random.Random(f"choice:{learner}:{self.id}").shuffle(order)
        return order

    def correct_option(self) -> str:
        """For a ``choice`` question: the text of the right option."""
        return self.options[LETTERS.index(str(self.answer).upper())]

    def option_named(self, response: str, learner: str | None = None) -> int | None:
        """The index (in the file) of the option ``response`` names: a letter as ``learner``
        sees the options, or words found in exactly one option. ``None`` if it names none."""
        text = response.strip()
        order = self.option_order(learner)
        if len(text) == 1 and text.upper() in LETTERS[: len(order)]:
            return order[LETTERS.index(text.upper())]
        return option_in_words(text, self.options)

    def shuffled_steps(self) -> list[int]:
        """For an ``order`` question: the indices of the steps in the order they are shown.

        Fixed per question (seeded by its id), so the letters mean the same every time.
        """
        order = list(range(len(self.steps)))
        rng = random.Random(f"order:{self.id}")
        while len(order) > 1 and order == sorted(order):
            rng.shuffle(order)
        return order

    def correct_response(self, learner: str | None = None) -> str | int:
        """The response that scores: a letter (as ``learner`` sees the options), a status
        code, or the letters of the steps."""
        if self.kind == "choice":
            return LETTERS[
                self.option_order(learner).index(LETTERS.index(str(self.answer).upper()))
            ]
        if self.kind == "order":
            shown = self.shuffled_steps()
            return "".join(LETTERS[shown.index(step)] for step in range(len(self.steps)))
        return self.answer

    def text(self, learner: str | None = None) -> str:
        """The question as ``learner`` sees it (options in that learner's order)."""
        lines = [f"[{self.id}] ({self.source}) {self.prompt}"]
        if self.kind == "choice":
            shown = self.option_order(learner)
            lines += [f"  {LETTERS[i]}. {self.options[k]}" for i, k in enumerate(shown)]
            lines.append("Answer with one letter, or with words from the option you choose.")
        elif self.kind == "order":
            shown = self.shuffled_steps()
            lines += [f"  {LETTERS[i]}. {self.steps[step]}" for i, step in enumerate(shown)]
            lines.append("Answer with the letters in the right order, e.g. 'CADB...'.")
        elif self.kind == "status":
            lines.append("Answer with the HTTP status code the client receives (e.g. 200).")
        elif self.graded:
            lines.append(
                f"Graded in {self.graded_in}: write your answer there. Its model answer and "
                "rubric come from your instructor after grading."
            )
        else:
            lines.append("Say or write your answer, then call attempt() and reveal().")
        return "\n".join(lines)


def _question(raw: dict[str, Any]) -> Question:
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigurationError(f"Question {raw.get('id')!r}: unknown kind {kind!r}.")
    question = Question(
        id=raw["id"],
        kind=kind,
        topic=raw["topic"],
        source=raw["source"],
        prompt=raw["prompt"],
        hint=raw.get("hint", ""),
        options=tuple(raw.get("options", ())),
        steps=tuple(raw.get("steps", ())),
        answer=raw.get("answer"),
        explanation=raw.get("explanation", ""),
        model_answer=raw.get("model_answer", ""),
        rubric=tuple(str(point) for point in raw.get("rubric", ())),
        graded_in=str(raw.get("graded_in", "")),
    )
    if question.graded and (question.kind != "open" or question.model_answer or question.rubric):
        raise ConfigurationError(
            f"Question {question.id!r} is graded in {question.graded_in}: it must be an open "
            "question without model_answer or rubric, which belong in the solution notebook only."
        )
    problems = {
        "choice": not question.options
        or str(question.answer).upper() not in LETTERS[: len(question.options)],
        "order": len(question.steps) < 2,
        "status": not isinstance(question.answer, int),
        "open": not question.graded and (not question.model_answer or not question.rubric),
    }
    if problems[kind]:
        raise ConfigurationError(f"Question {question.id!r} is incomplete for its kind {kind!r}.")
    return question


class QuestionBank:
    """All the practice questions, by id and by topic."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.topics: dict[str, str] = dict(data.get("topics", {}))
        self.questions: dict[str, Question] = {}
        for raw in data.get("questions", []):
            question = _question(raw)
            if question.id in self.questions:
                raise ConfigurationError(f"Two questions share the id {question.id!r}.")
            if question.topic not in self.topics:
                raise ConfigurationError(f"{question.id!r}: unknown topic {question.topic!r}.")
            self.questions[question.id] = question

    def get(self, qid: str) -> Question:
        """The question with id ``qid``."""
        try:
            return self.questions[qid]
        except KeyError:
            raise ConfigurationError(
                f"No question {qid!r}.", hint="List them with bank.ids() or bank.by_topic(topic)."
            ) from None

    def ids(self) -> list[str]:
        """Every question id, in the file's order."""
        return list(self.questions)

    def by_topic(self, topic: str) -> list[Question]:
        """The questions of one topic."""
        return [q for q in self.questions.values() if q.topic == topic]

    def coverage(self) -> dict[str, dict[str, int]]:
        """``{topic: {source: count}}``: which topics the bank covers, and from where."""
        table: dict[str, dict[str, int]] = {topic: {} for topic in self.topics}
        for q in self.questions.values():
            table[q.topic][q.source] = table[q.topic].get(q.source, 0) + 1
        return table

    def __len__(self) -> int:
        return len(self.questions)


def load_bank(path: str | Path | None = None) -> QuestionBank:
    """The practice bank from ``data/interview.json`` (or ``path``)."""
    file = Path(path) if path is not None else data_path("interview.json")
    try:
        return QuestionBank(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"Cannot read the question bank {file.name}: {exc}.") from exc
