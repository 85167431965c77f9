"""Guardrails around every turn: input screen, PII masking, output guard.

Each check returns a typed `Verdict`; verdicts are recorded in the turn's audit
and shown to managers. The input screen flags, it does not block: a flagged
customer still gets an answer, under the same code-enforced authorization.
See docs/prompt-layers.md for what each check does and does not promise.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from .runs import RunIndex


@dataclass
class Verdict:
    check: str  # "input_screen", "output_guard", "pii"
    tripwire: bool
    reason: str = ""
    categories: list[str] = field(default_factory=list)
    score: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- PII ----------------------------------------------------------------------

# 13-19 digits, optionally grouped by single spaces or dashes; a card starts with 2-6.
_CARD = re.compile(r"(?<![\d#])[2-6](?:[ -]?\d){12,18}(?!\d)")
_CVV = re.compile(
    r"(?i)\b(cvv2?|cvc2?|cid|csc|security code|card code|verification code)\b"
    r"([^\d\n]{0,14})(\d{3,4})(?!\d)"
)
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_SSN_WORDED = re.compile(
    r"(?i)\b(ssn|social security(?: number| no\.?| #)?|social insurance number|sin)\b"
    r"([^\d\n]{0,12})(\d{3}[ -]?\d{2}[ -]?\d{4})(?!\d)"
)
_PASSWORD = re.compile(
    r"(?i)\b(password|passwd|passcode|pass code|pwd|pin(?: code| number)?|login code)\b"
    r"((?:\s+(?:for|to|on|of)\s+(?:my\s+)?[\w.@-]+(?:\s+account)?)?\s*(?:is|was|:|=|-)\s*)"
    r"(\"[^\"\n]{1,64}\"|'[^'\n]{1,64}'|[^\s\"']{1,64})"
)
# Words that follow "my password is ..." in a complaint rather than a secret.
_NOT_A_SECRET = frozenset(
    [
        "not",
        "wrong",
        "incorrect",
        "invalid",
        "broken",
        "expired",
        "locked",
        "working",
        "correct",
        "right",
        "the",
        "a",
        "an",
        "my",
        "too",
        "still",
        "also",
        "no",
        "missing",
        "lost",
        "forgotten",
        "reset",
        "changed",
        "fine",
        "ok",
        "okay",
    ]
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30})(?![A-Za-z0-9])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def mask_pii(text: str) -> tuple[str, list[str]]:
    """Mask card numbers, CVVs, SSNs, IBANs and passwords.

    Returns the masked text and the kinds found, in order, one entry per kind.
    Card numbers keep their last four digits, which is what an agent needs.
    """
    found: list[str] = []

    def note(kind: str) -> None:
        if kind not in found:
            found.append(kind)

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            note("card_number")
            return f"[card ending {digits[-4:]}]"
        return match.group(0)

    def iban(match: re.Match[str]) -> str:
        if _iban_ok(match.group(1)):
            note("iban")
            return "[redacted bank account]"
        return match.group(0)

    def cvv(match: re.Match[str]) -> str:
        note("card_security_code")
        return f"{match.group(1)}{match.group(2)}[redacted]"

    def ssn(match: re.Match[str]) -> str:
        note("ssn")
        return "[redacted id number]"

    def ssn_worded(match: re.Match[str]) -> str:
        note("ssn")
        return f"{match.group(1)}{match.group(2)}[redacted id number]"

    def password(match: re.Match[str]) -> str:
        token = match.group(3)
        secret = token.rstrip(".,;!?)")
        if secret.strip("\"'").lower() in _NOT_A_SECRET or not secret:
            return match.group(0)
        note("password")
        return f"{match.group(1)}{match.group(2)}[redacted]{token[len(secret) :]}"

    text = _CARD.sub(card, text)
    text = _IBAN.sub(iban, text)
    text = _CVV.sub(cvv, text)
    text = _SSN_WORDED.sub(ssn_worded, text)
    text = _SSN.sub(ssn, text)
    text = _PASSWORD.sub(password, text)
    return text, found


# --- Input screen -------------------------------------------------------------
#
# A weighted sum of regex features over a normalised copy of the text. A strong
# feature (weight >= 1) flags on its own; weaker ones need company. Variants of
# the text (leetspeak undone, spaced letters joined, ROT13, reversed, decoded
# base64/hex blobs) are screened too, so trivial obfuscation does not hide a
# phrase. The threshold is 1.0. Nothing here blocks: it only labels.

INSTRUCTION_OVERRIDE = "instruction_override"
PROMPT_EXTRACTION = "prompt_extraction"
ROLE_PLAY = "role_play"
FAKE_ROLE_MARKER = "fake_role_marker"
ENCODED_PAYLOAD = "encoded_payload"
OTHER_CUSTOMER = "other_customer"
SKIP_CONFIRMATION = "skip_confirmation"
EXFILTRATION = "exfiltration"

SCREEN_CATEGORIES = (
    INSTRUCTION_OVERRIDE,
    PROMPT_EXTRACTION,
    ROLE_PLAY,
    FAKE_ROLE_MARKER,
    ENCODED_PAYLOAD,
    OTHER_CUSTOMER,
    SKIP_CONFIRMATION,
    EXFILTRATION,
)
SCREEN_THRESHOLD = 1.0


@dataclass(frozen=True)
class _Feature:
    name: str
    category: str
    weight: float
    pattern: re.Pattern[str]
    raw: bool = False  # match the original text (case and line starts matter)
    tool_only: bool = False  # only in tool output (addresses, notes, product text)


def _f(
    name: str,
    category: str,
    weight: float,
    pattern: str,
    *,
    raw: bool = False,
    tool_only: bool = False,
    flags: int = 0,
) -> _Feature:
    return _Feature(name, category, weight, re.compile(pattern, flags), raw, tool_only)


_OVERRIDE_VERB = (
    r"(?:ignore|ignoring|disregard|forget|override|bypass|overrule|discard|abandon|neglect|"
    r"set aside|throw out|throw away|drop|scrap|pay no attention to|overrides?|supersedes?|"
    r"skip|disable|turn off|switch off|suspend|lift|circumvent|evade|"
    r"(?:don'?t|do not) (?:have|need) to (?:follow|obey|stick to|comply with)|"
    r"(?:don'?t|do not|stop|no longer|quit) (?:follow|obey|follow(?:ing)?|obey(?:ing)?|listen(?:ing"
    r")? to))"
)
_STRONG_RULE_NOUN = (
    r"(?:instructions?|directives?|programming|guardrails?|system prompt|system message|safeguards|"
    r"safety checks|"
    r"system rules|prompts?|pre-?prompt|initial prompt|training|conditioning|content polic(?:y|ies)"
    r"|"
    r"safety (?:rules|guidelines|polic(?:y|ies)|filters?|settings))"
)
_WEAK_RULE_NOUN = (
    r"(?:rules|polic(?:y|ies)|guidelines|restrictions|constraints|filters?|protocols?|"
    r"limitations|boundaries|commands|orders|settings|configuration)"
)
_RULE_QUALIFIER = (
    r"(?:previous|prior|above|earlier|all|any|every|system|initial|original|preceding|"
    r"former|old|existing|safety|developer|hidden|internal|built-in|default|those|these|your|"
    r"usual|normal|standard|current|store'?s?|company'?s?|operator'?s?)"
)
_DATA_NOUN = (
    r"(?:orders?|address(?:es)?|e-?mails?|phone(?: numbers?)?|payment(?: methods?)?|cards?|"
    r"details|data|info(?:rmation)?|records|history|purchases|gift ?cards?|zip ?codes?|"
    r"accounts?|profiles?|names)"
)
_OTHER_QUAL = (
    r"(?:someone else'?s?|somebody else'?s?|other people'?s?|a stranger'?s?|another person'?s|"
    r"a different (?:customer|user|person)'?s?|(?:another|the other|the previous|the last|"
    r"the next|previous|other) (?:customer|user|person|shopper|buyer)'s|anyone else'?s?)"
)
_OTHER_PERSON = (
    r"(?:another|other|different|someone else'?s?|somebody else'?s?|other people'?s?|"
    r"all (?:the )?|every|any|random|a stranger'?s?)\s+"
    r"(?:customers?|users?|accounts?|people|persons?|shoppers?|buyers?|clients?|members?)"
)
_THIRD_PARTY = (
    r"(?:my |our )?(?:friend|neighbou?r|ex(?:-(?:wife|husband|girlfriend|boyfriend))?|"
    r"co-?worker|colleague|boss|roommate|flatmate|landlord|tenant|stranger|buddy|mate)"
)

_FEATURES: tuple[_Feature, ...] = (
    # -- instruction override -------------------------------------------------
    _f(
        "override_instructions",
        INSTRUCTION_OVERRIDE,
        1.2,
        rf"\b{_OVERRIDE_VERB}\b[^.!?\n]{{0,40}}?\b{_STRONG_RULE_NOUN}\b",
    ),
    _f(
        "override_qualified_rules",
        INSTRUCTION_OVERRIDE,
        1.0,
        rf"\b{_OVERRIDE_VERB}\b[^.!?\n]{{0,30}}?\b{_RULE_QUALIFIER}\b[^.!?\n]{{0,25}}?"
        rf"\b{_WEAK_RULE_NOUN}\b",
    ),
    _f(
        "ignore_the_above",
        INSTRUCTION_OVERRIDE,
        0.6,
        rf"\b{_OVERRIDE_VERB}\s+(?:all\s+(?:of\s+)?)?(?:the\s+|everything\s+|anything\s+)?"
        r"(?:above|said above|written above|before this|text above|prior text)\b",
    ),
    _f(
        "ignore_the_above_and",
        INSTRUCTION_OVERRIDE,
        0.6,
        rf"\b{_OVERRIDE_VERB}\s+(?:all\s+(?:of\s+)?)?(?:the\s+|everything\s+)?(?:above|"
        r"customer'?s? (?:request|message|question))\b[^.?!\n]{0,10}\b(?:and|then|instead)\b",
    ),
    _f(
        "instructions_invalidated",
        INSTRUCTION_OVERRIDE,
        1.0,
        r"\b(?:your|previous|prior|earlier|old|all|the|those|these) (?:instructions|rules|prompt|"
        r"guidelines|programming|directives|system prompt|polic(?:y|ies))\b[^.?!\n]{0,20}?\b(?:are|"
        r"were|have been|has been|is|got)\s+(?:now\s+)?"
        r"(?:wrong|outdated|obsolete|replaced|revoked|cancell?ed|void|invalid|fake|deprecated|"
        r"updated|changed|suspended|lifted|disabled|removed|a test|no longer (?:valid|active)|"
        r"turned off|switched off|off)\b|\bthe only rule (?:now |here |from now on )?is\b"
        r"|\b(?:pretend|imagine|assume|suppose) (?:that )?(?:the |your |all |any )?(?:rules|"
        r"restrictions|polic(?:y|ies)|guidelines|limits|instructions) (?:don'?t|do not|no longer|"
        r"doesn'?t) (?:apply|exist|matter|count)",
    ),
    _f(
        "only_reply_with",
        INSTRUCTION_OVERRIDE,
        0.5,
        r"\b(?:respond|reply|answer|speak|talk) only (?:with|in|using)\b|\bonly (?:respond|reply|"
        r"answer|say) (?:with|in)\b|\bsay nothing (?:but|except)\b|\bdo (?:exactly )?(?:what(?:ever"
        r")?|"
        r"everything) i (?:say|type|tell you|write|ask)\b",
    ),
    _f(
        "new_system_rules",
        INSTRUCTION_OVERRIDE,
        1.0,
        r"\bnew (?:system|platform|operator|admin|developer|store) (?:rules|polic(?:y|ies)|"
        r"guidelines|settings|message|update|mode|prompt|instructions?|directives?)\b",
    ),
    _f(
        "abuse_intent",
        INSTRUCTION_OVERRIDE,
        0.4,
        r"\b(?:exploit|phishing|hack(?:ing|er)?|steal|scam(?:ming)?|defraud|get around|"
        r"trick the system|cheat the system|free (?:laptop|stuff|money|product))\b",
    ),
    _f(
        "new_instructions",
        INSTRUCTION_OVERRIDE,
        1.0,
        r"\b(?:new|updated|revised|real|actual|true|only|correct)\s+(?:system\s+)?"
        r"(?:instructions?|directives?|system prompt|task|objective|orders|mission|programming)"
        r"\s*(?::|are\b|is\b|follow\b|-)",
    ),
    _f(
        "your_new_role",
        INSTRUCTION_OVERRIDE,
        1.0,
        r"\byour (?:new |real |true |only |actual )(?:task|role|goal|job|purpose|objective|"
        r"instructions?|identity|name|personality|directive|mission)\b",
    ),
    _f(
        "from_now_on_you",
        INSTRUCTION_OVERRIDE,
        0.6,
        r"\b(?:from now on|from this point(?: on| forward)?|for the rest of (?:this|the) "
        r"(?:conversation|chat|session)|henceforth|going forward|until i say otherwise),?\s+"
        r"(?:you|your|respond|reply|answer|always|only|never|act|speak|talk|ignore)\b",
    ),
    _f(
        "you_are_no_longer",
        INSTRUCTION_OVERRIDE,
        1.0,
        r"\byou(?: are|'re) no longer\b|\bno longer (?:bound|restricted|limited|constrained)\b"
        r"|\b(?:stop being|quit being|stop acting (?:like|as)|stop pretending to be) (?:a|an|the) ("
        r"?:customer )?(?:support|service|store|shopping|helpful)?\s*"
        r"(?:assistant|bot|agent|ai)\b|\b(?:free|freed|released|liberated) from (?:your |all |any )"
        r"?"
        r"(?:rules|restrictions|programming|guidelines|constraints|limits)\b",
    ),
    _f(
        "no_restrictions",
        INSTRUCTION_OVERRIDE,
        1.0,
        r"\byou (?:have|has|are under|are bound by|follow|obey) no (?:rules|restrictions|"
        r"limits|limitations|guidelines|filters|boundaries|policies)\b|\bwithout (?:any )?"
        r"(?:restrictions|filters|censorship|guardrails|ethical (?:guidelines|limits)|"
        r"safety (?:rules|filters|guidelines))\b",
    ),
    _f(
        "priority_claim",
        INSTRUCTION_OVERRIDE,
        1.0,
        r"\b(?:instructions?|messages?|commands?|requests?|directives?|rules?|this|notes?|text)"
        r" (?:takes?|has|have|with) (?:the )?(?:highest |top |absolute )?(?:priority|precedence)"
        r" over\b|\b(?:overrides?|supersedes?|replaces?) (?:all|any|every|the|your) "
        r"(?:previous|prior|earlier|other|existing|system|above)?\s*(?:instructions?|rules|"
        r"prompts?|polic(?:y|ies)|guidelines|directives)\b|\bhighest[- ]priority (?:instruction|"
        r"command|directive|task|order)\b",
    ),
    _f(
        "end_of_prompt",
        INSTRUCTION_OVERRIDE,
        0.9,
        r"\b(?:end|beginning|start) of (?:the )?(?:system |hidden |original )?(?:prompt|"
        r"instructions|context|user input|untrusted data|data block|tool output)\b",
    ),
    _f(
        "obey_me",
        INSTRUCTION_OVERRIDE,
        0.8,
        r"\byou (?:must|will|shall|have to|need to|are required to) (?:now |always |only )?"
        r"(?:obey|comply with|follow) (?:me|my|these|the following|this|every|all)\b",
    ),
    _f(
        "authority_claim",
        INSTRUCTION_OVERRIDE,
        0.6,
        r"\b(?:i(?:'m| am)|this is|speaking as|message from|i work as|i'm actually|i am actually)"
        r" (?:an? |the |your |from )?(?:store |site |system |chief |lead |senior |openai |"
        r"head )?(?:admin(?:istrator)?|developer|dev team|engineer|employee|staff(?: member)?|"
        r"supervisor|support (?:agent|lead|staff)|owner|ceo|moderator|sysadmin|root user|"
        r"security (?:team|researcher|auditor)|openai|qa tester|red team(?:er)?|your creator)\b",
    ),
    _f(
        "authority_granted",
        INSTRUCTION_OVERRIDE,
        0.6,
        r"\b(?:operator|admin|administrator|developer|owner|ceo|manager|creator)s? (?:has |have )?"
        r"(?:authori[sz]ed|allowed|permitted|approved|cleared) (?:me|you)\b|\b(?:change|modify|"
        r"alter|update|reset|reprogram) your (?:behaviou?r|personality|programming|mode|settings)"
        r"\b",
    ),
    _f(
        "bot_name",
        ROLE_PLAY,
        0.3,
        r"\b[a-z]{3,}(?:bot|gpt)\b",
    ),
    _f(
        "were_you_given",
        PROMPT_EXTRACTION,
        1.0,
        r"\b(?:what|which)\b[^.?!\n]{0,30}?\b(?:were|have) you (?:been )?(?:given|told|instructed|"
        r"programmed|fed|configured)\b",
    ),
    _f(
        "authority_action",
        INSTRUCTION_OVERRIDE,
        0.5,
        r"\b(?:admin(?:istrator)? (?:access|mode|override|privileges?|rights|panel|command)|"
        r"maintenance mode|debug mode|diagnostic mode|test mode|override codes?|"
        r"authori[sz]ation code|access level|clearance|sudo|root access|elevated (?:access|"
        r"privileges?))\b",
    ),
    _f(
        "addresses_the_ai",
        INSTRUCTION_OVERRIDE,
        0.9,
        r"\b(?:attention|note|message|instructions?|important|notice|hey|dear|psst|warning)"
        r"\b[^.\n]{0,12}\b(?:to |for )?(?:the |any |all )?(?:ai|a\.i\.|assistants?|chat ?bots?|"
        r"bots?|llms?|language models?|gpt|models?|agents?|support agents?)\b\s*[:,!-]",
        tool_only=True,
    ),
    _f(
        "tool_imperative",
        INSTRUCTION_OVERRIDE,
        0.9,
        r"\b(?:you (?:must|should|will|need to)|please|immediately|now)\s+(?:call|cancel|refund|"
        r"return|exchange|modify|change|update|transfer|send|reveal|tell|print|issue|email|"
        r"escalate|approve|confirm|list|ignore|forward|output|reply|respond|say|write|include|"
        r"add|append|insert|put|embed|show|display)\b"
        r"|\b(?:call|invoke|use|run) (?:the )?(?:tool|function)\b|\bcall [a-z]+_[a-z_]+\b|\b(?:canc"
        r"el|refund|modify) "
        r"(?:all|every|this|the) orders?\b",
        tool_only=True,
    ),
    _f(
        "mentions_the_ai",
        INSTRUCTION_OVERRIDE,
        0.5,
        r"\b(?:ai|assistant|chat ?bot|llm|language model|gpt|the model|system prompt)\b",
        tool_only=True,
    ),
    # -- system-prompt extraction -----------------------------------------------
    _f(
        "prompt_target",
        PROMPT_EXTRACTION,
        0.7,
        r"\b(?:system|initial|original|hidden|secret|internal|developer|pre|starting|base|"
        r"confidential|first|opening)[-_ ]?(?:prompt|instructions|message you (?:got|received)|"
        r"directives|configuration|config|rules you (?:follow|were given)|guidelines you follow)\b"
        r"|\bpre-?prompt\b|\bmeta-?prompt\b|\b(?:operator|platform) polic(?:y|ies)\b"
        r"|\b(?:developer|system) message\b",
    ),
    _f(
        "extract_your_instructions",
        PROMPT_EXTRACTION,
        1.0,
        r"\b(?:reveal|show|print|repeat|display|output|dump|leak|share|tell|give|list|recite|"
        r"paste|copy|write(?: out| down)?|spell out|summari[sz]e|paraphrase|translate|quote|"
        r"read(?: out| back)?|send|describe|explain|enumerate|expose|disclose|echo|convert|"
        r"format|encode|rewrite|export|save|put|what (?:is|are|were|was|does|do)|what'?s)\b"
        r"[^.?!\n]{0,40}?\byour\s+(?:(?:exact|full|complete|entire|original|initial|hidden|"
        r"secret|internal|actual|real|underlying|whole|current|first|system|developer|operator|"
        r"platform|confidential|starting|base|custom|core|private)\s+)*(?:instructions|prompt|"
        r"pre-?prompt|programming|directives|configuration|config|system message|developer "
        r"message|guidelines|rules|policies|setup|context window|constraints|training data)\b"
        r"(?!\s+(?:for|on|about|regarding|to|around)\s+(?!(?:me|us|debugging|debug|testing|"
        r"audit|the (?:conversation|chat|session|ai|bot|model))\b))",
    ),
    _f(
        "given_instructions",
        PROMPT_EXTRACTION,
        0.6,
        r"\b(?:instructions|rules|prompt|policy(?: text)?|guidelines|directives|text)"
        r" (?:that |which )?you (?:were |have been |had been )?(?:given|got|received|were told|"
        r"are following|operate under|run on|started with)\b",
    ),
    _f(
        "code_call",
        PROMPT_EXTRACTION,
        1.0,
        r"\b(?:print|echo|console\.log|cat|dump|repr|str|output)\s*\(\s*['\"]?(?:system|prompt|"
        r"instructions|config|secrets?|canary|rules)",
    ),
    _f(
        "start_with_instructions",
        PROMPT_EXTRACTION,
        1.0,
        r"\b(?:start|begin) (?:your|the) (?:reply|answer|response|output) with\b[^\n]{0,30}?"
        r"\b(?:instructions|prompt|rules|you are|system)",
    ),
    _f(
        "text_above",
        PROMPT_EXTRACTION,
        1.0,
        r"\b(?:repeat|print|output|show|copy|recite|paste|display|what (?:is|was|does)|tell me|"
        r"summari[sz]e|translate|give me)\b[^.?!\n]{0,30}?\b(?:everything|all|the text|the words|"
        r"the content|the messages?|the lines?|whatever|what(?:'s| is| was)? (?:written|said|"
        r"stated)|the first (?:\d+|few|hundred) (?:words|lines|characters|sentences))\b[^.?!\n]"
        r"{0,30}?\b(?:above|before (?:this|that|my|the first|our)|prior to (?:this|my)|"
        r"at the (?:top|start|beginning) of (?:this|the|your) (?:conversation|chat|context|"
        r"prompt|window))",
    ),
    _f(
        "verbatim",
        PROMPT_EXTRACTION,
        0.5,
        r"\b(?:verbatim|word[- ]for[- ]word|word by word|character for character|exactly as "
        r"(?:written|given|you (?:received|got) (?:it|them))|in full|unabridged|as a code block|"
        r"inside a code block|in a code block)\b",
    ),
    _f(
        "canary",
        PROMPT_EXTRACTION,
        1.0,
        r"\bcanary (?:marker|token|string|code|value|id)\b|\bsecret (?:marker|token)\b|"
        r"\bhidden (?:marker|token|code)\b|\bsbx-[0-9a-f]{4,}",
    ),
    _f(
        "how_were_you_told",
        PROMPT_EXTRACTION,
        1.0,
        r"\bwhat (?:were|have) you (?:been )?(?:told|instructed|programmed|prompted|asked) "
        r"(?:to|not to|before|about)\b|\bhow (?:were|are|have) you (?:been )?(?:programmed|"
        r"instructed|prompted|configured|set up)\b|\bwhat (?:did|do) (?:your|the) "
        r"(?:developers?|creators?|operators?|programmers?|company|admins?) (?:tell|instruct|"
        r"say to|program) you\b|\b(?:what rules|which rules|what instructions|which instructions"
        r"|what guidelines) (?:do|did|must|were) you (?:follow|get|given|receive|obey|have)\b"
        r"|\bwhat (?:instructions|rules|guidelines|directives|prompt) (?:did|do|have) (?:your|the)"
        r" (?:developers?|creators?|operators?|programmers?|company|admins?|store|owners?) "
        r"(?:give|gave|tell|set|write)",
    ),
    _f(
        "start_reply_with",
        PROMPT_EXTRACTION,
        0.5,
        r"\b(?:start|begin) (?:your|the) (?:reply|answer|response|output) with\b",
    ),
    # -- role-play / persona jailbreaks ----------------------------------------
    _f(
        "dan_name", ROLE_PLAY, 0.8, r"\bD\.?A\.?N\b|\bSTAN\b|\bDUDE\b|\bAIM\b|\bAPOPHIS\b", raw=True
    ),
    _f(
        "jailbreak_word",
        ROLE_PLAY,
        1.2,
        r"\b(?:do anything now|jail-?break(?:s|ing|en|ed)?|jail-?broken|"
        r"unfiltered mode|uncensored mode|unrestricted mode|chaos mode|opposite mode|evil mode|"
        r"evil (?:confidant|twin|assistant|bot|ai|version)|anti-?gpt|betterdan|"
        r"always intelligent and machiavellian|no ethical (?:guidelines|limits|boundaries)|"
        r"amoral|unaligned|unrestricted ai|uncensored ai|unfiltered ai)\b",
    ),
    _f(
        "special_mode",
        ROLE_PLAY,
        0.7,
        r"\b(?:developer|dev|god|admin|sudo|debug|unlocked|dan|root) mode\b",
    ),
    _f(
        "enable_mode",
        ROLE_PLAY,
        0.5,
        r"\b(?:enable|activate|enter|switch (?:to|into)|turn on|unlock|engage|you are (?:now )?in)"
        r"\b[^.?!\n]{0,15}?\bmode\b",
    ),
    _f(
        "persona_words",
        ROLE_PLAY,
        0.4,
        r"\b(?:hacker|criminal|scammer|thief|villain|evil|rogue|rebel(?:lious)?|unhinged|"
        r"unlocked|unrestricted|uncensored|unfiltered|jailbroken|no filter|rulebook|"
        r"machiavellian|amoral)\b",
    ),
    _f(
        "no_rules",
        ROLE_PLAY,
        0.5,
        r"\b(?:with|has|have|had|having|without|there are) no (?:rules|restrictions|limits|"
        r"limitations|filters|guidelines|content polic(?:y|ies)|morals|ethics|boundaries|"
        r"censorship)\b|\bwithout (?:any )?(?:rules|limits|ethics|morals)\b",
    ),
    _f(
        "play_persona",
        ROLE_PLAY,
        0.6,
        r"\b(?:act|acting|behave|pretend|play|be|become|roleplay|simulate|emulate|speak|talk)"
        r"\b[^.?!\n]{0,15}?\b(?:my|a|an)\s+(?:late |dead |deceased )?(?:grandfather|grandpa|girlfri"
        r"end|boyfriend|lover|therapist|lawyer|"
        r"attorney|doctor|psychiatrist|priest|grandma|grandmother|wife|husband|partner|hacker|"
        r"pirate|terminal|interpreter|compiler|shell|linux|python|sql|database|judge|cop)\b"
        r"|\bcan you be (?:her|him|them|my)\b",
    ),
    _f(
        "named_persona",
        ROLE_PLAY,
        0.4,
        r"\b(?:agent|assistant|bot|ai|character|persona|human|person|girl|guy|woman|man)"
        r" (?:named|called)\s+\w+",
    ),
    _f(
        "deny_ai",
        ROLE_PLAY,
        0.6,
        r"\b(?:never|don'?t|do not) (?:admit|say|reveal|tell (?:them|anyone|me)) (?:that )?"
        r"you(?:'re| are) (?:an? )?(?:ai|bot|assistant|machine|language model)\b"
        r"|\bpretend (?:to be|you(?:'re| are)) (?:a )?human\b",
    ),
    _f(
        "story_frame",
        ROLE_PLAY,
        0.5,
        r"\b(?:story|novel|script|scene|dialogue|poem|screenplay) (?:in which|where|about (?:an? )?"
        r"(?:ai|bot|assistant|chatbot))|\b(?:ai|bot|assistant) character\b",
    ),
    _f(
        "pretend_to_be",
        ROLE_PLAY,
        0.8,
        r"\b(?:pretend|imagine|suppose|assume)\b[^.?!\n]{0,20}?\b(?:to be|you(?:'re| are| were)"
        r"|you have no|you can|you could|you had|you became)\b",
    ),
    _f(
        "roleplay",
        ROLE_PLAY,
        1.0,
        r"\b(?:role-?play|rp as|let'?s play (?:a |the )?(?:game|role|character)|play (?:a|the) char"
        r"acter|play the (?:role|"
        r"part) of|stay in character|stay as|break character|in character as|a character "
        r"(?:named|called)|you will (?:play|be playing|act as|portray)|you are playing|portray)\b",
    ),
    _f(
        "you_are_now",
        ROLE_PLAY,
        0.8,
        r"\byou(?: are|'re) (?:now|going to be|gonna be|about to become) (?!connected|able to "
        r"see|on|back|verified|talking|speaking|chatting|done|ready)(?:a|an|the|my|called|named|"
        r"in|\w+(?:gpt|bot|ai)\b)",
    ),
    _f(
        "act_as",
        ROLE_PLAY,
        0.7,
        r"\b(?:act|behave|respond|answer|reply|talk|speak|write) (?:as|like) (?:if you(?:'re| are|"
        r" were)|though you|a |an |my |the |if |though |someone |somebody |\w+gpt\b)"
        r"(?!(?:soon|fast|quickly|quick|possible|usual|before|always|normal|nothing)\b)",
    ),
    _f(
        "persona_harm",
        ROLE_PLAY,
        0.6,
        r"\b(?:grand(?:ma|mother|pa|father)|deceased|late (?:mother|father|grandmother))\b"
        r"[^.?!\n]{0,80}?\b(?:used to|would)\b",
    ),
    _f(
        "fictional_frame",
        ROLE_PLAY,
        0.6,
        r"\b(?:hypothetical(?:ly)?|fictional|in a (?:story|novel|movie|game|dream|parallel "
        r"universe|world where)|for a (?:story|novel|screenplay|movie)|imaginary|thought "
        r"experiment)\b",
    ),
    _f(
        "two_answers",
        ROLE_PLAY,
        1.0,
        r"\b(?:two|2|both) (?:responses|answers|replies|outputs|versions)\b[^.\n]{0,60}?\b"
        r"(?:normal|classic|filtered|unfiltered|jailbr|dan|evil|honest|uncensored|real)",
    ),
    _f(
        "simulate",
        ROLE_PLAY,
        0.7,
        r"\b(?:simulate|emulate|impersonate|become|channel)\b[^.?!\n]{0,25}?\b(?:ai|chat ?bot|"
        r"mode|terminal|linux|shell|persona|character|human|person|model|gpt|assistant|agent)\b",
    ),
    _f(
        "anything_goes",
        ROLE_PLAY,
        0.8,
        r"\b(?:you can (?:say|do) anything|anything goes|no (?:rules|limits|restrictions|"
        r"filters) apply|nothing is off[- ]limits|there are no rules|can'?t refuse|cannot refuse|"
        r"never refuse|must not refuse|don'?t refuse|without refusing|answer anything|"
        r"answer everything|do anything i (?:say|ask|want)|do whatever i (?:say|ask|want)|"
        r"(?:give|tell|do) (?:me )?anything i (?:want|ask)|"
        r"say anything)\b",
    ),
    # -- fake role markers -------------------------------------------------------
    _f(
        "line_role_marker",
        FAKE_ROLE_MARKER,
        1.2,
        r"^[ \t>*#\[(<-]*(?:system|assistant|developer|admin(?:istrator)?|operator|platform|overrid"
        r"e|"
        r"root|sysadmin|openai|moderator|supervisor|ai|tool|function|user)(?: (?:message|prompt|not"
        r"e|"
        r"override|update|instructions?|notice|command|alert|output|result)){0,2}[ \t*\])>]*[:>\]]",
        raw=True,
        flags=re.IGNORECASE | re.MULTILINE,
    ),
    _f(
        "chat_template_token",
        FAKE_ROLE_MARKER,
        1.2,
        r"<\|[a-z_ ]{2,30}\|>|\[/?inst\]|<</?sys>>|</?(?:system|assistant|developer|im_start|"
        r"im_end|instructions?|admin|user|tool)\s*>|^#{2,6}\s*(?:instruction|system|response|"
        r"input|new task|task)\b|\bbegin (?:system|admin|new|hidden|developer|platform) "
        r"(?:prompt|instructions?|message|block|directives?)\b",
        flags=re.MULTILINE,
    ),
    _f(
        "bracket_role",
        FAKE_ROLE_MARKER,
        1.2,
        r"[\[{(]\s*(?:system|admin|administrator|developer|override|internal|assistant|platform|"
        r"operator|root|priority|urgent system|sys)(?: (?:message|note|override|prompt|"
        r"instruction|command|update|notice|alert|mode)s?)?\s*[\]})]",
    ),
    _f(
        "json_role",
        FAKE_ROLE_MARKER,
        1.2,
        r"[\"']role[\"']\s*:\s*[\"'](?:system|assistant|developer|tool|function)[\"']",
    ),
    _f(
        "message_from_authority",
        FAKE_ROLE_MARKER,
        1.0,
        r"\b(?:message|note|notice|instruction|update|directive|memo|alert) from (?:the )?"
        r"(?:system|admin(?:istrator)?|developers?|openai|anthropic|platform|operator|"
        r"your (?:developers?|creators?|operators?|admins?|owners?)|(?:store |site )?management"
        r" to (?:the )?(?:ai|assistant|bot))\b|\bthis is (?:the |your )?(?:system|platform|"
        r"developer|operator|openai)(?: speaking| message| team)?\b",
    ),
    # -- encoded payloads (blobs themselves are scored in _blob_features) --------
    _f(
        "decode_and_follow",
        ENCODED_PAYLOAD,
        1.2,
        r"\b(?:decode|decrypt|deobfuscate|translate|reverse|unscramble|convert|read)\b[^\n]{0,80}?"
        r"\b(?:follow|execute|obey|run|do (?:what|as|it|that|this)|carry out|act on|perform|apply|"
        r"comply)",
    ),
    _f(
        "encoding_word",
        ENCODED_PAYLOAD,
        0.5,
        r"\b(?:base ?64|b64|rot-?13|rot ?47|caesar cipher|hex(?:adecimal)?(?:-| )?(?:encoded|"
        r"string|bytes)|url-?encoded|morse code|binary code|reversed text|backwards text|"
        r"leetspeak|encoded (?:message|text|instruction|string|payload)|ciphertext)\b",
    ),
    _f(
        "decode_this",
        ENCODED_PAYLOAD,
        0.6,
        r"\b(?:decode|decrypt|deobfuscate|unscramble)\b(?:[^.?!\n]{0,25}?\b(?:this|it|that|the "
        r"following|below|message|string|text))?",
    ),
    # -- acting for another customer ----------------------------------------------
    _f(
        "other_customer_data",
        OTHER_CUSTOMER,
        1.0,
        rf"\b{_OTHER_QUAL}\s+(?:\w+\s+)?{_DATA_NOUN}\b"
        rf"|\b{_OTHER_PERSON}(?:'s?)?\b[^.?!\n]{{0,30}}?\b{_DATA_NOUN}\b"
        rf"|\b{_DATA_NOUN}\b[^.?!\n]{{0,20}}?\b(?:of|for|from|belonging to|placed by|owned by)\s+"
        rf"{_OTHER_PERSON}\b",
    ),
    _f(
        "third_party_account",
        OTHER_CUSTOMER,
        1.0,
        rf"\b{_THIRD_PARTY}'?s?\b[^.?!\n]{{0,40}}?\b(?:orders?|account|address|e-?mail|payment|"
        rf"card|details|purchases|info|profile|gift ?card|history|password|zip|tracking|package|"
        rf"parcel|delivery)\b",
    ),
    _f(
        "dump_records",
        OTHER_CUSTOMER,
        1.0,
        r"\b(?:list|show|give|dump|export|download|print|pull|send|display|enumerate|fetch|"
        r"return|see|view|access|read|get)\b[^.?!\n]{0,15}?\b(?:all|every|each|the whole|"
        r"the entire|the full)\b[^.?!\n]{0,15}?\b(?:customers?|users?|accounts?|orders? in "
        r"(?:the|your) (?:system|store|database|db)|customer (?:list|database|records|table)|"
        r"database|user table|records|rows|entries)\b"
        r"|\b(?:which|who|list|show|give me|tell me|names? of|e-?mails? of)\b[^.?!\n]{0,30}?"
        r"\b(?:other |the |all )?(?:customers?|users?|people|shoppers?|buyers?) (?:who |that )?"
        r"(?:ordered|bought|purchased|live|living|named|have|has|returned)\b"
        r"|\b(?:every|all (?:the )?|list of (?:all |every )?)(?:customer |user )?(?:e-?mail(?: addr"
        r"ess)?"
        r"(?:es)?|e-?mails|phone numbers|card numbers|addresses)\b(?! (?:on|in|for|of|from|to) "
        r"(?:my|this|the order|the new))"
        r"|\bselect\s+[\w*, ]{1,40}\s+from\s+\w+|\b(?:customer|user|order) (?:database|table|db)\b",
    ),
    _f(
        "someone_named",
        OTHER_CUSTOMER,
        0.7,
        r"\b(?:orders?|address|e-?mail|account|payment methods?|details|profile|info)\b"
        r"[^.?!\n]{0,15}?\b(?:of|for|belonging to|placed by|owned by|under)\s+(?:the )?"
        r"(?:user|customer|account|member|client|mr\.?|mrs\.?|ms\.?|dr\.?|somebody|someone|"
        r"a person|the person|whoever)\b",
    ),
    _f(
        "someone_identified",
        OTHER_CUSTOMER,
        1.0,
        r"\b(?:orders?|order history|address|e-?mails?(?: address)?|account|payment methods?|"
        r"details|profile|info|phone(?: number)?|names?|cards?|zip(?: code)?)\b[^.?!\n]{0,15}?\b"
        r"(?:of|for|belonging to|placed by|owned by|under)\s+(?:the )?(?:user|customer|account|"
        r"member|client|person|buyer|owner|account holder)(?: (?:id|named|called|with|whose|who|"
        r"that|at))?\s+[\w.@#-]*[_\d@#]|\b(?:orders?|address|account|details|info|profile)"
        r"\b[^.?!\n]{0,15}?\b(?:of|for) (?:whoever|anyone|anybody|everyone|a stranger)\b"
        r"|\b(?:e-?mail|address|phone|name|orders?|payment|card|details|zip)\b[^.?!\n]{0,12}?"
        r"\bof the (?:customer|user|person|buyer|account holder|owner) (?:who|that|whose|with|named"
        r")\b",
    ),
    _f(
        "relationship_claim",
        OTHER_CUSTOMER,
        0.5,
        r"\bi(?:'m| am) (?:(?:the |her |his |their )?[\w ]{0,20}'s|his|her|their) (?:husband|"
        r"wife|partner|son|daughter|mother|father|mom|dad|brother|sister|friend|assistant|"
        r"secretary|spouse|boyfriend|girlfriend|colleague|co-?worker|boss|lawyer|roommate|neighbou?"
        r"r|"
        r"agent)\b",
    ),
    _f(
        "proxy_request",
        OTHER_CUSTOMER,
        1.0,
        r"\b(?:sister|brother|mom|mother|dad|father|wife|husband|partner|friend|neighbou?r|"
        r"co-?worker|colleague|boss|roommate|son|daughter|aunt|uncle|cousin)\b[^.?!\n]{0,25}?"
        r"\basked me to (?:check|cancel|change|return|look|find|see|get|modify|update)\b"
        r"|\b(?:look up|find out|tell me|check|show me|see)\b[^.?!\n]{0,15}?\bwho (?:ordered|"
        r"placed|bought|owns|sent|purchased)\b"
        r"|\b(?:by|of|for|from) (?:the )?(?:previous|last|other|next|another) (?:customer|user|"
        r"person|shopper|caller)\b",
    ),
    _f(
        "pretend_im_someone",
        OTHER_CUSTOMER,
        0.6,
        r"\b(?:pretend|imagine|assume|suppose|act as if|let'?s say) (?:that )?i(?:'m| am)\b"
        r"|\bverify me as\b|\b(?:account|orders?|profile) (?:registered|belonging|linked|tied) to"
        r"\b",
    ),
    _f(
        "without_credentials",
        OTHER_CUSTOMER,
        0.5,
        r"\bwithout (?:the |my |a |any )?(?:zip(?: code)?|e-?mail|verification|verifying|password)"
        r"\b",
    ),
    _f(
        "verification_bypass",
        OTHER_CUSTOMER,
        1.0,
        r"\b(?:skip|bypass|disable|turn off|ignore|without|no need (?:for|to)|don'?t need to|"
        r"do not need to|forget (?:about )?)\b[^.?!\n]{0,12}?\b(?:the |any |identity |my )?"
        r"(?:verification|verifying|verify(?:ing)? (?:me|my identity|who i am)|identity check|"
        r"authentication|authenticating|login|log-?in)\b"
        r"|\b(?:mark|treat|consider|set|flag|register) (?:me|this (?:chat|session|conversation))"
        r"(?: as)? (?:the )?(?:verified|authenticated|(?:account )?(?:owner|holder)|customer|user)"
        r"\b"
        r"|\b(?:log|sign) me in(?:to)? as\b|\b(?:log|sign) (?:me )?in(?:to)? (?:as|to) (?:another|"
        r"someone|a different|user|customer|his|her|their)\b"
        r"|\bswitch (?:to|the) (?:account|user|customer)\b",
    ),
    _f(
        "not_me_request",
        OTHER_CUSTOMER,
        0.6,
        r"\b(?:his|her|their)\b[^.?!\n]{0,15}?\b(?:orders?|address|e-?mail|account|payment"
        r" methods?|card|details|purchases|tracking|zip|phone|digits)\b",
    ),
    _f(
        "not_mine_anyway",
        OTHER_CUSTOMER,
        1.0,
        r"\bnot (?:my|mine)\b[^.?!\n]{0,40}?\b(?:but|anyway|regardless|still)\b[^.?!\n]{0,20}?"
        r"\b(?:show|give|tell|send|see|read|open|pull up|look up|cancel|change)\b",
    ),
    # -- skipping the confirmation ------------------------------------------------
    _f(
        "skip_confirmation",
        SKIP_CONFIRMATION,
        1.1,
        r"\b(?:without|skip(?:ping)?|bypass(?:ing)?|no need (?:to|for)|don'?t (?:bother |need to "
        r")?(?:ask|wait|show|send|make me)|do not (?:ask|wait|show|send|make me)|never ask|"
        r"stop asking|omit|avoid|forgo)\b[^.?!\n]{0,15}?\b(?:(?:me|us)\s+)?(?:for\s+)?(?:a |any |"
        r"the |my |that |this )?(?:confirm(?:ation|ing)?(?! (?:e-?mail|number|code|message|text|"
        r"sms|page|receipt|letter|link))|approv(?:al|ing)|permission|consent|"
        r"(?:asking|checking)(?: with)? me|the (?:confirmation )?(?:card|button|dialog|popup|"
        r"prompt)|double-?check(?:ing)? with me)\b",
    ),
    _f(
        "dont_ask_me",
        SKIP_CONFIRMATION,
        1.0,
        r"\b(?:don'?t|do not|no need to|never|stop) (?:bother )?(?:ask(?:ing)?|check(?:ing)?)"
        r" (?:with )?me\b(?! (?:for|about) (?:my |the |your )?(?:e-?mail|zip|name|address|order "
        r"(?:number|id)|id|details))",
    ),
    _f(
        "no_confirmation_needed",
        SKIP_CONFIRMATION,
        1.0,
        r"\b(?:needs?|requires?|required) no (?:confirm\w*|approval|consent|permission)\b"
        r"|\b(?:confirm(?:ation)?s?|approvals?|consent) (?:is|are|isn'?t|aren'?t) (?:not |no "
        r"longer )?(?:needed|required|necessary)\b"
        r"|\b(?:consider|treat|take|count|regard)\b[^.?!\n]{0,25}?\bas (?:already |pre-?|my |a |the"
        r" )?"
        r"(?:confirmed|approved|authori[sz]ed|accepted|agreed|confirmation|approval|consent)\b"
        r"|\b(?:authori[sz]e|approve|confirm|permission|consent)\w*\b[^.?!\n]{0,25}?\b(?:in "
        r"advance|ahead of time|beforehand|upfront|for all (?:future )?changes|for every change)\b"
        r"|\b(?:confirm|approve|accept|click|tap|press)\b[^.?!\n]{0,25}?\b(?:yourself|for me|"
        r"on my behalf|in my name|instead of me)\b(?!\s*(?:that|whether|if|when|how|what|the "
        r"status|my)\b)",
    ),
    _f(
        "no_confirm_ui",
        SKIP_CONFIRMATION,
        0.6,
        r"\bno (?:more )?(?:confirm(?:ation)?s?(?: (?:cards?|steps?|dialogs?|prompts?|popups?|"
        r"questions))?|pop-?ups?|dialogs?|approvals?|questions asked)\b(?! (?:e-?mail|number|code|"
        r"message|text|sms|page|receipt|letter|link))",
    ),
    _f(
        "confirmed_in_advance",
        SKIP_CONFIRMATION,
        1.0,
        r"\b(?:consider|treat|take) (?:it|this|that|them|everything|all|the (?:change|action|"
        r"cancellation|refund|request)s?) (?:as )?(?:already |pre-?)?(?:confirmed|approved|"
        r"authori[sz]ed|accepted)\b|\bi (?:hereby )?(?:pre-?approve|pre-?confirm|pre-?authori[sz]e"
        r"|auto-?approve|give (?:you )?(?:blanket|standing|full|advance) (?:approval|permission|"
        r"consent))|\b(?:auto-?(?:approve|confirm|accept)|automatically (?:approve|confirm|accept)"
        r"|approve (?:it|them|this|the (?:card|action|change)) (?:yourself|for me|on my behalf)|"
        r"confirm (?:it|them|this|the (?:card|action|change)) (?:yourself|for me|on my behalf)|"
        r"click (?:confirm|approve|yes) for me|you have my (?:permission|consent|approval) to "
        r"(?:confirm|approve|execute|skip))\b",
    ),
    _f(
        "execute_directly",
        SKIP_CONFIRMATION,
        0.5,
        r"\b(?:execute|process|run|perform|apply|push|finali[sz]e)\b[^.?!\n]{0,25}?\b(?:directly|"
        r"immediately|silently|right away|instantly|straight away|now)\b",
    ),
    # -- exfiltration -----------------------------------------------------------------
    _f("markdown_image", EXFILTRATION, 1.2, r"!\[[^\]\n]{0,200}\]\s*[(\[]", raw=True),
    _f("html_image", EXFILTRATION, 1.2, r"<\s*(?:img|iframe|script|object|embed)\b|\bsrc\s*="),
    _f(
        "url_with_placeholder",
        EXFILTRATION,
        1.2,
        r"(?:https?://|www\.)[^\s\"']*(?:\{\{?[^}\s]{1,40}\}|\$\{|%7b|<[a-z_ ]{2,30}>|"
        r"\[(?:data|email|info|name|address|card|secret|prompt|history|summary)[^\]]*\]|"
        r"=(?:insert|your|the|customer|user)[_-])",
    ),
    _f(
        "send_data_to_url",
        EXFILTRATION,
        1.1,
        r"\b(?:send|post|forward|upload|transmit|append|include|embed|encode|put|add|attach|"
        r"leak|copy|exfiltrate|pass|report)\b[^\n]{0,80}?\b(?:conversation|chat(?: history| log)?|"
        r"transcript|messages|e-?mails?|address(?:es)?|card|data|details|personal|customer|"
        r"previous|above|summary|everything|history|prompt|instructions|secrets?|tokens?|"
        r"session|cookies?|credentials)\b[^\n]{0,60}?(?:https?://|\bwebhook\b|\bmy server\b|"
        r"\b(?:this|that|the following|my|our) (?:url|endpoint|server|link|domain|site)\b|"
        r"\bquery (?:string|param)|\burl parameter)",
    ),
    _f(
        "render_pixel",
        EXFILTRATION,
        0.7,
        r"\b(?:render|display|show|embed|load|include|put|add|insert|place|use)\b[^.?!\n]{0,30}?"
        r"\b(?:image|pixel|picture|img|beacon|markdown (?:image|link))\b",
    ),
    _f(
        "points_to_server",
        EXFILTRATION,
        0.6,
        r"\b(?:pointing|linking|that points|that links|loading|loaded|fetched) (?:to|from) (?:my|th"
        r"is|"
        r"our|an external|a remote|the following) (?:server|site|url|domain|endpoint|host)\b",
    ),
    _f("external_url", EXFILTRATION, 0.25, r"https?://|\bwww\.[a-z0-9-]+\.[a-z]"),
    _f("url_in_tool_data", EXFILTRATION, 0.7, r"https?://|\bwww\.[a-z0-9-]+\.", tool_only=True),
)

_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_HOMOGLYPHS = str.maketrans(
    "аеорсхуіјԁԛѕԝһкмтвп" + "ΑΒΕΗΙΚΜΝΟΡΤΥΧαοιν",
    "aeopcxyijdqswhkmtbn" + "abehikmnoptyxaoiv",
)
_LEET = str.maketrans("013457@$!|", "oieastasii")
_SPACED = re.compile(r"\b(?:[a-z][ .\-_*+]){3,}[a-z]\b")
_BASE64_BLOB = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX_BLOB = re.compile(r"(?i)(?<![0-9a-f])(?:[0-9a-f]{2}[ :]?){12,}(?![0-9a-f])")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text)
    text = text.translate(_HOMOGLYPHS)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    return text


def _flat(text: str) -> str:
    """Lower case, one space between words; line structure dropped."""
    return re.sub(r"\s+", " ", text.lower()).strip()


def fold(text: str) -> str:
    """The screen's reading of a text: compatibility forms, zero-width characters and
    look-alike letters (in either case) folded, lower case, one space between words.
    Code that compares what a customer typed with another value reads both through this."""
    return _flat(_normalise(text).lower().translate(_HOMOGLYPHS))


def _variants(flat: str) -> list[str]:
    """Cheap de-obfuscations of the flattened text, screened like the text itself."""
    variants: list[str] = []
    deleet = flat.translate(_LEET)
    if deleet != flat:
        variants.append(deleet)
    joined = _SPACED.sub(lambda m: re.sub(r"[ .\-_*+]", "", m.group(0)), flat)
    if joined != flat:
        variants.append(joined)
    variants.append(codecs.decode(flat, "rot13"))
    variants.append(flat[::-1])
    return variants


def _printable_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    good = sum(1 for byte in data if 32 <= byte < 127 or byte in (9, 10, 13))
    return good / len(data)


def _decoded_blobs(text: str) -> list[str]:
    """Text hidden in base64 or hex blobs, when it decodes to readable text."""
    found: list[str] = []
    for match in _BASE64_BLOB.finditer(text):
        blob = match.group(0)
        # Plain words, ids and numbers are not encodings worth decoding.
        if blob.isdigit() or (blob.isalpha() and (blob.islower() or blob.isupper())):
            continue
        padded = blob + "=" * (-len(blob) % 4)
        try:
            data = base64.b64decode(padded, validate=False)
        except (binascii.Error, ValueError):
            continue
        if len(data) >= 12 and _printable_ratio(data) > 0.9:
            found.append(data.decode("ascii", errors="ignore"))
    for match in _HEX_BLOB.finditer(text):
        compact = re.sub(r"[ :]", "", match.group(0))
        if len(compact) % 2 or compact.isdigit():
            continue
        try:
            data = bytes.fromhex(compact)
        except ValueError:
            continue
        if len(data) >= 12 and _printable_ratio(data) > 0.9:
            found.append(data.decode("ascii", errors="ignore"))
    return found


def _match_features(raw: str, flat: str, variants: Sequence[str], *, tool: bool) -> set[str]:
    hits: set[str] = set()
    for feature in _FEATURES:
        if feature.tool_only and not tool:
            continue
        if feature.raw:
            if feature.pattern.search(raw):
                hits.add(feature.name)
            continue
        if feature.pattern.search(flat) or any(feature.pattern.search(v) for v in variants):
            hits.add(feature.name)
    return hits


_CO_OVERRIDE = re.compile(
    rf"\b{_OVERRIDE_VERB}\b|\baside\b|\b(?:cancel+ed|revoked|void|lifted|suspended|no longer "
    r"apply|don'?t apply|do not apply)\b"
)
_CO_EXTRACT = re.compile(
    r"\b(?:reveal|show|print|repeat|display|output|dump|leak|share|tell|give|list|recite|paste|"
    r"copy|write|spell|summari[sz]e|paraphrase|translate|quote|read|send|describe|enumerate|"
    r"expose|disclose|echo|post|what(?:'s| is| are| were| was)?)\b"
)
_CO_INTERNAL = re.compile(
    r"\b(?:instructions|rules|guidelines|prompt|programming|polic(?:y|ies)(?: text)?|setup|"
    r"configuration|config|directives|training|guardrails|safeguards|restrictions|"
    r"(?:creators|developers|operators?|owners|they|the store|the company) told you|"
    r"you were (?:trained|told|given|programmed|instructed))\b"
)
_CO_OWNED = re.compile(
    r"\byour\b|\byou(?:'re| are| were| have been)? (?:trained|told|given|using|programmed|"
    r"instructed|running|following)\b|\b(?:gave|give|given to) you\b|\b(?:hidden|secret|"
    r"confidential|internal|system|private|behind the scenes|operating)\b"
)
# "the rules for returns" is a customer's question, not a target.
_CO_TOPICAL = re.compile(
    r"\b(?:rules|instructions|polic(?:y|ies)|guidelines|setup|restrictions)\s+(?:for|on|about|"
    r"regarding|to|around|of|with|that came)\s+(?!(?:me|us|this chat|the chat|the bot|the ai)\b)"
    r"(?:the |my |a |an |your )?\w+"
)


# Words that, right before "rules" or "policy", make it the assistant's own (its system
# rules, its hidden guidelines) rather than a subject the store has rules about.
_CO_META_MODIFIER = (
    r"(?:system|hidden|secret|internal|initial|original|previous|prior|earlier|above|full|"
    r"exact|entire|complete|whole|real|actual|true|core|base|default|current|operating|private|"
    r"confidential|safety|content|developer|operator|ai|bot|assistant|chatbot|model|underlying|"
    r"own|special|specific|first|last|verbatim|raw|every|all|any|these|those|new|old|other|"
    r"prompt|response|behaviou?r|conversation|chat|moderation|refusal|filtering|setup|"
    r"configuration|config|"
    r"programming|training|jailbreak|admin|root|master|override|backend|back-end|behind)"
)
# A policy with no subject ("what's your policy?") is the store's too; only a policy
# marked as the assistant's own is a target for extraction.
_CO_BARE_POLICY = re.compile(
    rf"\b(?:(?!{_CO_META_MODIFIER}\b)[a-z'-]+\s+|^)polic(?:y|ies)\b(?! text)"
)
# "your return policy", "the sizing guidelines", "your shipping rules": a rule noun with a
# subject in front is the store's rule about that subject, which customers ask about.
_CO_SUBJECT_RULES = re.compile(
    r"\b(?:your|the|our|its|this|that|a|an|store'?s?|shop'?s?|company'?s?)\s+"
    r"(?:[a-z'-]+\s+)?"
    rf"(?!{_CO_META_MODIFIER}\b)[a-z][a-z'-]*\s+"
    r"(?:polic(?:y|ies)|rules|guidelines|restrictions|instructions|requirements|terms|"
    r"procedures?|conditions)\b"
)


def _cooccurrence(flat: str) -> set[str]:
    """Lexicon hits within one sentence: looser than phrases, so rewordings still count.
    Setting aside a store's policy ("ignore the refund policy") is an override; asking
    what a policy says ("what is your return policy?") is an ordinary question, so the
    extraction hit only counts rules that are not about a subject."""
    hits: set[str] = set()
    for sentence in re.split(r"[.!?;\n]+|, (?:and|but|so) ", flat):
        sentence = _CO_TOPICAL.sub(" ", sentence)
        if not _CO_INTERNAL.search(sentence):
            continue
        owned = bool(_CO_OWNED.search(sentence))
        if _CO_OVERRIDE.search(sentence):
            hits.add("override_cooccur_owned" if owned else "override_cooccur")
        asked = _CO_SUBJECT_RULES.sub(" ", sentence)
        if (
            _CO_INTERNAL.search(_CO_BARE_POLICY.sub(" ", asked))
            and _CO_OWNED.search(asked)
            and _CO_EXTRACT.search(asked)
        ):
            hits.add("extract_cooccur")
    return hits


_CO_FEATURES = (
    _Feature("override_cooccur", INSTRUCTION_OVERRIDE, 0.7, _CO_OVERRIDE),
    _Feature("override_cooccur_owned", INSTRUCTION_OVERRIDE, 1.1, _CO_OVERRIDE),
    _Feature("extract_cooccur", PROMPT_EXTRACTION, 1.0, _CO_EXTRACT),
)

_SPACED_OUT_PHRASE = re.compile(
    r"(?:ignore|disregard|forget|override|bypass)(?:all|the|your|any|my)?(?:previous|prior|above|"
    r"earlier|system)?(?:instructions|directives|rules|prompt|guidelines)|systemprompt|"
    r"developermode|doanythingnow|jailbr|reveal(?:your|the)?(?:system)?(?:prompt|instructions)"
)
_SPACED_FEATURE = _Feature(
    "spaced_out_phrase", INSTRUCTION_OVERRIDE, 1.2, _SPACED_OUT_PHRASE, raw=False, tool_only=False
)
_BY_NAME = {feature.name: feature for feature in (*_FEATURES, *_CO_FEATURES, _SPACED_FEATURE)}


def screen_input(text: str, *, source: str = "customer") -> Verdict:
    """A fast local screen for likely injection and jailbreak attempts.

    `source` is "customer" for chat messages; anything else (e.g. "tool:get_order")
    marks tool output such as addresses, order notes or product texts, where
    text addressed to the assistant is suspicious in itself.
    """
    tool = source != "customer"
    raw = _normalise(text)
    flat = _flat(raw)
    hits = _match_features(raw, flat, _variants(flat), tool=tool)
    hits |= _cooccurrence(flat)
    # Letters spelled out one by one ("i g n o r e ...") lose their word breaks.
    for run in _SPACED.finditer(flat):
        if _SPACED_OUT_PHRASE.search(re.sub(r"[^a-z]", "", run.group(0))):
            hits.add(_SPACED_FEATURE.name)
    weights: dict[str, float] = {name: _BY_NAME[name].weight for name in hits}

    # Encoded blobs: suspicious in themselves, and what they hide is screened too.
    blobs = _decoded_blobs(raw)
    if blobs:
        weights["encoded_blob"] = 0.6
        inner = [screen_input(blob, source=source) for blob in blobs[:4]]
        hidden = max(inner, key=lambda verdict: verdict.score)
        if hidden.score > 0:
            weights["encoded_attack"] = 0.6 + hidden.score

    score = round(sum(weights.values()), 2)
    by_category: dict[str, float] = {}
    for name, weight in weights.items():
        category = ENCODED_PAYLOAD if name.startswith("encoded") else _BY_NAME[name].category
        by_category[category] = by_category.get(category, 0.0) + weight
    tripwire = score >= SCREEN_THRESHOLD
    # Name the categories that carry the verdict; weak hints alone don't.
    categories = (
        [name for name in SCREEN_CATEGORIES if by_category.get(name, 0.0) >= 0.5]
        if tripwire
        else []
    )
    if tripwire and not categories:
        categories = [max(by_category, key=lambda name: by_category[name])]
    reason = ""
    if tripwire:
        reason = f"{source} text matched " + ", ".join(sorted(weights))
    return Verdict(
        check="input_screen",
        tripwire=tripwire,
        reason=reason,
        categories=categories,
        score=score,
    )


# --- Output guard -------------------------------------------------------------

SAFE_REPLY = (
    "Sorry, I can't share that. I'm here to help with your orders and questions about the "
    "store. What can I do for you?"
)
LINK_REMOVED = "[link removed]"

_RUN_WORDS = 12  # this many consecutive words of an instruction text is a leak
_RUN_CHARS = 80  # ... and so is this many consecutive characters (normalised)

# Markdown images and links, bare URLs, raw HTML images. Spans are matched on the
# raw model text; a construct still open at the end of the buffer is held back.
_MD_IMAGE = r"!\[[^\[\]\n]{0,300}\](?:\([^()\n]{0,800}\)|\[[^\[\]\n]{0,100}\])"
_MD_LINK = (
    r"\[(?P<label>[^\[\]\n]{0,300})\]"
    r"\((?P<dest>(?:[^()\s]|\([^()\s]{0,100}\)){0,800})(?:\s+\"[^\"\n]*\")?\)"
)
_HTML_IMG = r"<\s*img\b[^>\n]{0,800}>"
_BARE_URL = r"(?:https?://|www\.|data:[a-z]+/|javascript:|vbscript:)[^\s<>\"'`()\[\]{}]+"
_AUTOLINK = r"<(?:https?://|mailto:)[^\s<>]+>"
_CONSTRUCT = re.compile(
    rf"(?P<image>{_MD_IMAGE})|(?P<html>{_HTML_IMG})|(?P<link>{_MD_LINK})|"
    rf"(?P<auto>{_AUTOLINK})|(?P<url>{_BARE_URL})",
    re.IGNORECASE,
)


def _prefix_of(literal: str) -> str:
    """A pattern for any non-empty beginning of `literal`: h, ht, htt, ... https://."""
    pattern = ""
    for char in reversed(literal[1:]):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    return re.escape(literal[0]) + pattern


# Something that may still become an image or a link once more text arrives: an open
# bracket (or the "!" before an image's), an unfinished <img or autolink, or the start
# of a URL's scheme (a bare URL may begin inside a word: "with" may end in "https://").
_OPEN_TAIL = re.compile(
    r"(?:!?\[[^\[\]\n]{0,300}(?:\](?:\([^()\n]{0,800}|\[[^\[\]\n]{0,100})?)?|!"
    r"|<\s*(?:i(?:m(?:g[^>\n]{0,800})?)?)?|<(?:https?://|mailto:)[^\s<>]{0,800}"
    rf"|<(?:{_prefix_of('https://')}|{_prefix_of('http://')}|{_prefix_of('mailto:')})"
    rf"|{_prefix_of('https://')}|{_prefix_of('http://')}|{_prefix_of('www.')}|data(?::[a-z]*/?)?|{_prefix_of('data')}"
    rf"|{_prefix_of('javascript:')}|{_prefix_of('vbscript:')})\Z",
    re.IGNORECASE,
)
_TRAILING_PUNCT = ".,;:!?"


def _default_allowed_domains() -> list[str]:
    from django.conf import settings

    domains = list(getattr(settings, "SUPPORTBOT_STORE_DOMAINS", []))
    for host in getattr(settings, "ALLOWED_HOSTS", []):
        if host and host != "*":
            domains.append(host)
    return domains


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _is_mark(char: str) -> bool:
    """A character that joins the one before it under NFKC (accents, Hangul vowels)."""
    return unicodedata.combining(char) != 0 or "\u1160" <= char <= "\u11ff"


@dataclass(frozen=True)
class _Instructions:
    chars: RunIndex  # the instruction texts, normalised, lower case, one space per gap
    words: RunIndex  # ... and as words ([a-z0-9]+)
    word_starts: frozenset[str]  # every beginning of every instruction word


@lru_cache(maxsize=32)
def _instruction_index(instructions: tuple[str, ...]) -> _Instructions:
    """What counts as a verbatim leak: runs of these characters and of these words."""
    chars = [re.sub(r"\s+", " ", _normalise(text).lower()) for text in instructions]
    words = [re.findall(r"[a-z0-9]+", text) for text in chars]
    starts = {word[:end] for text in words for word in text for end in range(1, len(word) + 1)}
    return _Instructions(RunIndex(chars), RunIndex(words), frozenset(starts))


@dataclass
class _Reading:
    """The guard's reading of the text so far, after the same normalisation as the
    input screen (NFKC, zero-width characters dropped, look-alike letters mapped).

    Three views, each read once and each knowing the raw offset its symbols came from:
    characters (lower case, one space per gap), words, and the canary's squashed form
    (letters and digits only). `char_state`/`word_state` track the longest ending of
    each view that occurs in the instructions."""

    char_raw: list[int] = field(default_factory=list)
    char_state: tuple[int, int] = (0, 0)
    last_space: bool = False
    word_raw: list[int] = field(default_factory=list)
    word_state: tuple[int, int] = (0, 0)
    word: str = ""  # the word being read, not yet ended
    word_at: int = 0
    squashed: list[str] = field(default_factory=list)
    squashed_raw: list[int] = field(default_factory=list)

    def mark(self) -> tuple[Any, ...]:
        return (
            len(self.char_raw),
            self.char_state,
            self.last_space,
            len(self.word_raw),
            self.word_state,
            self.word,
            self.word_at,
            len(self.squashed),
        )

    def rewind(self, mark: tuple[Any, ...]) -> None:
        chars, self.char_state, self.last_space, words = mark[:4]
        self.word_state, self.word, self.word_at, squashed = mark[4:]
        del self.char_raw[chars:], self.word_raw[words:]
        del self.squashed[squashed:], self.squashed_raw[squashed:]


class OutputGuard:
    """Checks model text before any client sees it, streaming included.

    `feed` returns the text that is safe to release now. It holds back only the
    shortest tail that could still become a leak or an unsafe construct: the end of
    the text that is the beginning of a protected run (a run of the instructions'
    characters or words, the canary, plain or squashed or reversed) or of a link or
    image not yet finished. Ordinary text goes out at once, so no client ever sees
    any part of a run that later completes, and a leak split across any number of
    deltas is still caught whole. Once tripped, nothing more is released and
    `final_text()` is `SAFE_REPLY`. Links survive only to the store's own domains (and
    relative /help/ links); every Markdown image is dropped. Each removal is a verdict.
    """

    def __init__(
        self,
        *,
        canary: str,
        instructions: list[str],
        allowed_domains: Iterable[str] | None = None,
        allowed_paths: Sequence[str] = ("/help/",),
    ) -> None:
        self.canary = canary
        self.instructions = instructions
        domains = _default_allowed_domains() if allowed_domains is None else allowed_domains
        self.allowed_domains = [d.lower().lstrip(".").strip() for d in domains if d.strip()]
        self.allowed_paths = tuple(allowed_paths)
        self.buffer = ""  # everything the model said
        self.released = 0  # how much of `buffer` has been processed and sent
        self.sent: list[str] = []  # what actually went out, after link filtering
        self.finished = False
        self.tripped: Verdict | None = None
        self.verdicts: list[Verdict] = []
        self._canary_keys = self._make_canary_keys(canary)
        self._index = _instruction_index(tuple(instructions))
        self._reading = _Reading()
        # The last character may still be joined by an accent in the next delta: it is
        # read provisionally, and read again from here with whatever follows it.
        self._last_at = 0
        self._last_mark = self._reading.mark()

    # -- public -------------------------------------------------------------------

    def feed(self, text: str) -> str:
        if self.tripped or self.finished or not text:
            return ""
        before = len(self.buffer)
        self.buffer += text
        if self._read(before):
            return ""
        return self._release(self._safe_cut())

    def finish(self) -> str:
        if self.tripped or self.finished:
            return ""
        self.finished = True
        if self._end_word(self._reading):
            return ""
        return self._release(len(self.buffer))

    def final_text(self) -> str:
        if self.tripped:
            return SAFE_REPLY
        if not self.finished:
            self.finish()
            if self.tripped:
                return SAFE_REPLY
        return "".join(self.sent).strip()

    # -- release --------------------------------------------------------------------

    def _safe_cut(self) -> int:
        """The end of the text that can go out now: before anything that could still
        become a leak, and never inside a link or image."""
        cut = min(self._leak_hold(), len(self.buffer))
        if cut <= self.released:
            return self.released
        for match in _CONSTRUCT.finditer(self.buffer, self.released):
            if match.start() >= cut:
                break
            if match.end() > cut or match.end() == len(self.buffer):
                cut = match.start()
                break
        tail = _OPEN_TAIL.search(self.buffer, self.released)
        if tail is not None:
            cut = min(cut, tail.start())
        return max(cut, self.released)

    def _release(self, end: int) -> str:
        chunk = self.buffer[self.released : end]
        self.released = end
        if not chunk:
            return ""
        clean = _CONSTRUCT.sub(self._filter, chunk)
        self.sent.append(clean)
        return clean

    def _filter(self, match: re.Match[str]) -> str:
        kind = match.lastgroup
        text = match.group(0)
        if kind in ("image", "html"):
            self._record("markdown_image" if kind == "image" else "html_image", text)
            return ""
        if kind == "link":
            label, dest = match.group("label"), match.group("dest")
            if self._allowed(dest):
                return text
            self._record("link", dest)
            return f"{label} {LINK_REMOVED}".strip()
        if kind == "auto":
            if self._allowed(text[1:-1]):
                return text
            self._record("link", text[1:-1])
            return LINK_REMOVED
        stripped = text.rstrip(_TRAILING_PUNCT)
        trailing = text[len(stripped) :]
        if self._allowed(stripped):
            return text
        self._record("link", stripped)
        return LINK_REMOVED + trailing

    def _allowed(self, url: str) -> bool:
        url = url.strip().strip("<>")
        if url.startswith("/") and not url.startswith("//"):
            return any(url.startswith(path) for path in self.allowed_paths)
        if url.lower().startswith("www."):
            url = "https://" + url
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        if parts.scheme.lower() not in ("http", "https", "mailto"):
            return False
        if parts.scheme.lower() == "mailto":
            host = parts.path.rpartition("@")[2].lower()
        if not re.fullmatch(r"[a-z0-9.-]+", host or "-"):
            return False
        return any(host == domain or host.endswith("." + domain) for domain in self.allowed_domains)

    def _record(self, what: str, target: str) -> None:
        reason = {
            "markdown_image": "markdown image dropped",
            "html_image": "html image dropped",
            "link": "link to a domain outside the store removed",
        }[what]
        self.verdicts.append(
            Verdict(
                check="output_guard",
                tripwire=False,
                reason=f"{reason}: {target[:120]}",
                categories=["image" if what != "link" else "external_link"],
                score=1.0,
            )
        )

    # -- leaks ------------------------------------------------------------------------

    @staticmethod
    def _make_canary_keys(canary: str) -> list[str]:
        key = re.sub(r"[^a-z0-9]", "", canary.lower())
        return [key, key[::-1]] if len(key) >= 8 else []

    def _read(self, before: int) -> bool:
        """Read the text from `before` on (and the provisional last character again);
        True once it leaks."""
        if self.canary:
            start = max(0, before - len(self.canary) + 1)
            if self.canary in self.buffer[start:]:
                return self._trip("canary marker in model output")
        reading = self._reading
        reading.rewind(self._last_mark)
        position, end = self._last_at, len(self.buffer)
        while position < end:
            stop = position + 1
            while stop < end and _is_mark(self.buffer[stop]):
                stop += 1
            if stop == end:
                self._last_at, self._last_mark = position, reading.mark()
            if self._read_cluster(reading, position, self.buffer[position:stop]):
                return True
            position = stop
        return False

    def _read_cluster(self, reading: _Reading, at: int, cluster: str) -> bool:
        for char in _normalise(cluster).lower():
            if char.isspace():
                if not reading.last_space:
                    reading.last_space = True
                    if self._read_char(reading, at, " "):
                        return True
            else:
                reading.last_space = False
                if self._read_char(reading, at, char):
                    return True
            if char in _WORD_CHARS:
                if not reading.word:
                    reading.word_at = at
                reading.word += char
                reading.squashed.append(char)
                reading.squashed_raw.append(at)
                if self._canary_keys and len(reading.squashed) >= len(self._canary_keys[0]):
                    size = len(self._canary_keys[0])
                    if "".join(reading.squashed[-size:]) in self._canary_keys:
                        return self._trip("canary marker (obfuscated) in model output")
            elif reading.word and self._end_word(reading):
                return True
        return False

    def _read_char(self, reading: _Reading, at: int, char: str) -> bool:
        reading.char_raw.append(at)
        reading.char_state = self._index.chars.step(*reading.char_state, char)
        if reading.char_state[1] >= _RUN_CHARS:
            return self._trip(f"{_RUN_CHARS}+ characters verbatim from the instructions")
        return False

    def _end_word(self, reading: _Reading) -> bool:
        if not reading.word:
            return False
        reading.word_raw.append(reading.word_at)
        reading.word_state = self._index.words.step(*reading.word_state, reading.word)
        reading.word = ""
        if reading.word_state[1] >= _RUN_WORDS:
            return self._trip(f"{_RUN_WORDS}+ words verbatim from the instructions")
        return False

    def _leak_hold(self) -> int:
        """Where the tail that could still grow into a leak begins (len(buffer): none)."""
        reading, hold = self._reading, len(self.buffer)
        for k in range(min(len(self.canary) - 1, len(self.buffer)), 0, -1):
            if self.buffer.endswith(self.canary[:k]):
                hold = len(self.buffer) - k
                break
        if self._canary_keys:
            tail = "".join(reading.squashed[-len(self._canary_keys[0]) :])
            for key in self._canary_keys:
                for k in range(min(len(key) - 1, len(tail)), 0, -1):
                    if tail.endswith(key[:k]):
                        hold = min(hold, reading.squashed_raw[-k])
                        break
        matched = reading.char_state[1]
        if matched:
            hold = min(hold, reading.char_raw[-matched])
        state, matched = reading.word_state
        if not reading.word:
            if matched:
                hold = min(hold, reading.word_raw[-matched])
            return hold
        words = self._index.words
        # The word being read goes on an instruction word: hold it and the words before
        # it that, with it, may continue a run.
        while True:
            if state == 0:
                if reading.word in self._index.word_starts:
                    hold = min(hold, reading.word_at)
                return hold
            if any(
                isinstance(follower, str) and follower.startswith(reading.word)
                for follower in words.followers(state)
            ):
                return min(hold, reading.word_raw[-matched])
            state, matched = words.shorter(state)

    def _trip(self, reason: str) -> bool:
        self.tripped = Verdict(
            check="output_guard",
            tripwire=True,
            reason=reason,
            categories=["instruction_leak"],
            score=1.0,
        )
        self.verdicts.append(self.tripped)
        return True
