"""Out-of-office and vacation replies, recognised by their subject in many languages (the
robots that send them mark themselves as automated in no consistent way; `autoreply` sees
those markers) and by the ``X-Vacation`` header.

They are kept on their ticket (the customer may have written something useful) but they never
notify anyone and never reopen a solved ticket (SPEC F10): "I'm away until Monday" is not a
new question.
"""

from __future__ import annotations

from postdesk.mail.rules.base import Cause, MailFacts, RuleContext, RuleHit, subject_pattern

_SUBJECTS = (
    # English
    r"out\s+of\s+(the\s+)?office",
    r"automatic\s+reply",
    r"auto(matic)?[-\s]?reply\b",
    r"auto[-\s]?response",
    r"away\s+from\s+(the\s+)?office",
    r"on\s+(vacation|holiday|leave)",
    r"vacation\s+(reply|message|notice|response)",
    r"absence\s+(notice|notification)",
    # German, Dutch, Scandinavian
    r"abwesenheitsnotiz",
    r"automatische\s+antwort",
    r"abwesend",
    r"afwezig",
    r"automatisch\s+antwoord",
    r"fr[åa]nvaro",
    r"autosvar",
    r"automatisk\s+svar",
    # French, Spanish, Portuguese, Italian
    r"r[ée]ponse\s+automatique",
    r"absent(e)?\s+du\s+bureau",
    r"respuesta\s+autom[áa]tica",
    r"fuera\s+de\s+la\s+oficina",
    r"resposta\s+autom[áa]tica",
    r"fora\s+do\s+escrit[óo]rio",
    r"risposta\s+automatica",
    r"fuori\s+(sede|ufficio)",
    # Polish, Czech, Russian, Turkish
    r"automatyczna\s+odpowied[źz]",
    r"poza\s+biurem",
    r"automatick[áa]\s+odpov[ěe]\u010f",
    r"автоматический\s+ответ",
    r"не\s+в\s+офисе",
    r"otomatik\s+yan[\u0131i]t",
    r"ofis\s+d[\u0131i][\u015fs][\u0131i]nda",
    # Korean, Japanese, Chinese
    r"부재\s*중",
    r"자동\s*응답",
    r"자동\s*회신",
    r"休暇",
    r"不在",
    r"自動(応答|返信)",
    r"自动(回复|答复)",
    r"自動回覆",
    r"外出",
)
_SUBJECT_RE = subject_pattern(_SUBJECTS)


class OutOfOffice:
    name = "out_of_office"
    description = (
        "Out-of-office and vacation replies: kept on their ticket without notifications, and "
        "they never reopen it."
    )
    cause = Cause.AUTO_VACATION

    def check(self, facts: MailFacts, context: RuleContext) -> RuleHit | None:
        subject = facts.subject.strip()
        extra = context.settings.out_of_office_subjects
        if _SUBJECT_RE.search(subject) or (extra and subject_pattern(extra).search(subject)):
            return RuleHit(self.name, self.cause, f"out-of-office subject {subject[:80]!r}")
        if "X-Vacation" in facts.headers:
            return RuleHit(self.name, self.cause, "X-Vacation header present")
        return None
