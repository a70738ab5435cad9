"""Self-check questions with instant feedback, for interview practice (notebook 10).

The questions live in ``data/interview.json`` (:mod:`authlab.course.questions` reads them;
its names are re-exported here). Four kinds:

* ``choice``: one letter as shown, or words from the option (options are shuffled per
  learner and graded by content: :func:`learner_id` names the learner);
* ``order``: the letters of the shuffled steps, in the right order (``"CADB"``);
* ``status``: the HTTP status a request gets (``401``);
* ``open``: an answer you say aloud or write. After an attempt, ``reveal`` shows the model answer
  and the rubric, and ``assess`` records how many of its points you judge your answer makes:
  nothing is ticked by keywords, and written answers are graded by a person. A question a
  notebook grades (the chapter's exercises and interview questions) has no model answer here:
  ``reveal`` names the exercise that grades it.

Everything prints plain text and returns a value, so it works headless (in tests, in
nbgrader, in a terminal) as well as in JupyterLab::

    quiz = Quiz(load_bank())
    quiz.ask("signature-1")          # prints the question
    quiz.answer("signature-1", "b")  # prints ✔ or ✘ with a hint; returns a Result
    quiz.reveal("signature-1")       # the model answer, once you have tried
    drill = quiz.drill(5, seed=7)    # a shuffled drill; rerun with another seed
"""

from __future__ import annotations

import getpass
import os
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .questions import KINDS, LETTERS, Question, QuestionBank, load_bank

__all__ = [
    "KINDS",
    "Drill",
    "Question",
    "QuestionBank",
    "Quiz",
    "Result",
    "Shown",
    "learner_id",
    "load_bank",
    "widget",
]


class Shown(str):
    """Text already printed to the learner: a notebook does not echo it a second time."""

    def _ipython_display_(self) -> None:
        """Show nothing: the text was printed when it was produced."""


@dataclass(frozen=True)
class Result:
    """The outcome of one answer: whether it scored, and the feedback shown."""

    question: str
    correct: bool | None  # None: no answer given, or an open question (not auto-scored)
    feedback: str

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: the feedback was printed already."""


def learner_id() -> str:
    """Who is practising, for the order of the options: ``AUTHLAB_LEARNER``, else the
    JupyterHub or notebook user, else the account name. Not a secret and not trusted:
    whatever it is, an answer scores only if it names the right option."""
    for name in ("AUTHLAB_LEARNER", "JUPYTERHUB_USER", "NB_USER"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user name on this system
        return "learner"


def _normalise(question: Question, response: Any, learner: str | None) -> str | int | None:
    """The learner's response in the form of ``correct_response()``, or None if empty."""
    if response is None or (isinstance(response, str) and not response.strip()):
        return None
    if question.kind == "choice":
        named = question.option_named(str(response), learner)
        return -1 if named is None else LETTERS[question.option_order(learner).index(named)]
    if question.kind == "status":
        try:
            return int(str(response).strip())
        except ValueError:
            return -1
    if question.kind == "order" and not isinstance(response, str):
        response = "".join(str(item) for item in response)
    text = "".join(ch for ch in str(response).upper() if ch.isalnum())
    return text


class Quiz:
    """Ask, answer, reveal and drill, remembering attempts. ``out`` receives the feedback text.

    ``learner`` (default: :func:`learner_id`) seeds the order of each question's options.
    """

    def __init__(
        self,
        bank: QuestionBank,
        *,
        out: Callable[[str], Any] | None = print,
        learner: str | None = None,
    ) -> None:
        self.bank = bank
        self.out = out
        self.learner = learner_id() if learner is None else learner
        self.attempts: dict[str, list[Result]] = {}
        self.written: dict[str, str] = {}
        self.revealed: set[str] = set()
        self.assessments: dict[str, list[bool]] = {}

    def _say(self, text: str) -> Shown:
        if self.out is not None:
            self.out(text)
        return Shown(text)

    def ask(self, qid: str) -> str:
        """Show question ``qid``; returns its text."""
        return self._say(self.bank.get(qid).text(self.learner))

    def answer(self, qid: str, response: Any) -> Result:
        """Check ``response`` to an auto-scored question and give instant feedback."""
        question = self.bank.get(qid)
        if question.kind == "open":
            return self.attempt(qid, str(response or ""))
        given = _normalise(question, response, self.learner)
        if given is None:
            result = Result(
                qid, None, f"[{qid}] No answer yet: put it between the quotes and run again."
            )
        elif given == question.correct_response(self.learner):
            result = Result(qid, True, f"✔ [{qid}] Right. {question.explanation}".rstrip())
        else:
            tries = len([r for r in self.attempts.get(qid, []) if r.correct is False]) + 1
            more = " reveal() shows the answer and why." if tries >= 2 else ""
            result = Result(qid, False, f"✘ [{qid}] Not yet. Hint: {question.hint}{more}")
        if given is not None:
            self.attempts.setdefault(qid, []).append(result)
        self._say(result.feedback)
        return result

    def attempt(self, qid: str, text: str) -> Result:
        """Record a spoken or written attempt at an ``open`` question.

        Nothing is scored: :meth:`reveal` then shows the model answer and its rubric, and
        :meth:`assess` records your own judgement of your answer against that rubric.
        """
        question = self.bank.get(qid)  # an unknown id is a ConfigurationError with a hint
        if not text.strip():
            result = Result(
                qid, None, f"[{qid}] Write (or say aloud and summarise) your answer first."
            )
            self._say(result.feedback)
            return result
        self.written[qid] = text
        after = (
            f"This question is graded in {question.graded_in}: answer it there; its model answer "
            "comes from your instructor after grading."
            if question.graded
            else f"Now reveal({qid!r}) shows the model answer and the rubric to check your "
            "answer against."
        )
        result = Result(qid, None, f"[{qid}] Attempt recorded ({len(text.split())} words). {after}")
        self.attempts.setdefault(qid, []).append(result)
        self._say(result.feedback)
        return result

    def assess(self, qid: str, marks: Iterable[bool]) -> tuple[int, int] | None:
        """Record your self-assessment of an open answer: one True or False per rubric point,
        in the rubric's order. Returns (points you gave yourself, points in the rubric), or
        ``None`` (with a nudge) before an attempt and a reveal."""
        question = self.bank.get(qid)
        marks = list(marks)
        if question.graded:
            self._say(f"[{qid}] Graded in {question.graded_in}: your instructor assesses it.")
            return None
        if qid not in self.written or qid not in self.revealed:
            self._say(f"[{qid}] Write your answer, then reveal({qid!r}), then assess it.")
            return None
        if len(marks) != len(question.rubric) or not all(isinstance(m, bool) for m in marks):
            self._say(
                f"[{qid}] Give one True or False per rubric point: {len(question.rubric)} of them."
            )
            return None
        given = sum(marks)
        self.assessments[qid] = marks
        missed = [p for p, m in zip(question.rubric, marks, strict=True) if not m]
        lines = [f"[{qid}] You gave yourself {given} of {len(marks)} points."]
        if missed:
            lines.append("To practise next time: " + "; ".join(missed) + ".")
        self._say("\n".join(lines))
        return given, len(marks)

    def attempted(self, qid: str) -> bool:
        """Whether question ``qid`` has had at least one real attempt."""
        return bool(self.attempts.get(qid))

    def reveal(self, qid: str) -> str | None:
        """The model answer, only after an attempt; otherwise a nudge (and ``None``)."""
        question = self.bank.get(qid)
        if question.graded:
            self._say(
                f"[{qid}] This question is graded: {question.graded_in}. Its model answer and "
                "rubric are not in your copy of the course; your instructor grades your answer "
                "with them and shares them after grading."
            )
            return None
        if not self.attempted(qid):
            self._say(
                f"[{qid}] Try it first: the answer is shown after an attempt. Hint: {question.hint}"
            )
            return None
        self.revealed.add(qid)
        if question.kind == "open":
            points = "\n".join(f"  {i + 1}. {point}" for i, point in enumerate(question.rubric))
            text = (
                f"[{qid}] Model answer:\n{question.model_answer}\n\nRubric: does your answer make "
                f"each point? Judge it yourself, then assess({qid!r}, [True, False, ...]):\n{points}"
            )
        elif question.kind == "order":
            steps = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(question.steps))
            text = f"[{qid}] Answer: {question.correct_response()}\n{steps}\n{question.explanation}"
        elif question.kind == "choice":
            letter = question.correct_response(self.learner)
            text = f"[{qid}] Answer: {letter}. {question.correct_option()}\n{question.explanation}"
        else:
            text = f"[{qid}] Answer: {question.answer}. {question.explanation}"
        return self._say(text)

    def score(self) -> tuple[int, int]:
        """(questions answered right at least once, auto-scored questions attempted)."""
        scored = {q: rs for q, rs in self.attempts.items() if self.bank.get(q).kind != "open"}
        right = sum(1 for rs in scored.values() if any(r.correct for r in rs))
        return right, len(scored)

    def drill(
        self,
        n: int = 5,
        *,
        seed: int | None = None,
        topics: Iterable[str] | None = None,
        kinds: Iterable[str] = ("choice", "order", "status"),
    ) -> Drill:
        """A shuffled drill of ``n`` questions; the seed is printed so a drill can be replayed."""
        if seed is None:
            seed = secrets.randbelow(10_000)
        wanted_topics = set(topics) if topics is not None else set(self.bank.topics)
        pool = [
            q.id
            for q in self.bank.questions.values()
            if q.topic in wanted_topics and q.kind in set(kinds)
        ]
        random.Random(seed).shuffle(pool)
        drill = Drill(self, pool[:n], seed)
        self._say(f"Drill of {len(drill.ids)} questions (seed={seed}: pass it again to replay).")
        return drill


@dataclass
class Drill:
    """A shuffled run of questions: show them, answer them in one go, see the score."""

    quiz: Quiz
    ids: list[str]
    seed: int
    results: list[Result] = field(default_factory=list)

    def show(self) -> str:
        """Print every question of the drill, numbered."""
        learner = self.quiz.learner
        texts = [f"{i + 1}) {self.quiz.bank.get(q).text(learner)}" for i, q in enumerate(self.ids)]
        return self.quiz._say("\n\n".join(texts))

    def answer(self, responses: list[Any]) -> tuple[int, int]:
        """Check the responses in drill order; print feedback and return (right, asked)."""
        if not responses:
            self.quiz._say(
                "No answers yet: put them in the list, in the drill's order, and run again."
            )
            return 0, len(self.ids)
        self.results = [self.quiz.answer(q, r) for q, r in zip(self.ids, responses, strict=False)]
        right = sum(1 for r in self.results if r.correct)
        self.quiz._say(f"Drill score: {right}/{len(self.ids)} (seed={self.seed}).")
        return right, len(self.ids)


def widget(quiz: Quiz, qid: str) -> Any:
    """An ipywidgets form for question ``qid`` (answer box, Check and Reveal buttons).

    Falls back to printing the question when ipywidgets is not installed; the plain
    functions (:meth:`Quiz.answer`, :meth:`Quiz.reveal`) do the same job in any case.
    """
    try:
        import ipywidgets as w
    except ImportError:  # pragma: no cover - depends on the install
        quiz.ask(qid)
        return None
    question = quiz.bank.get(qid)
    box = (w.Textarea if question.kind == "open" else w.Text)(placeholder="your answer")
    check_button, reveal_button, output = (
        w.Button(description="Check"),
        w.Button(description="Reveal"),
        w.Output(),
    )

    def on_check(_: Any) -> None:
        with output:
            output.clear_output()
            quiz.answer(qid, box.value)

    def on_reveal(_: Any) -> None:
        with output:
            quiz.reveal(qid)

    check_button.on_click(on_check)
    reveal_button.on_click(on_reveal)
    label = w.HTML(
        "<pre style='white-space: pre-wrap'>" + _escape(question.text(quiz.learner)) + "</pre>"
    )
    return w.VBox([label, box, w.HBox([check_button, reveal_button]), output])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
