"""The shipped translations (French, Spanish): every theme word and COCO class has a name, an
article (gender) and a plural; the page's words and theme titles exist in every language; and
the sentences a child hears come out right, hunt game included.

The tables below are the review sheet for a native speaker: one line per theme word."""

from __future__ import annotations

import pytest

from inference.labels.languages import available_languages, load_language
from inference.labels.phrases import (
    HuntPhrases,
    count_phrase,
    first_letter,
    first_letter_hint,
    found_phrase,
    friendly_name,
    hunt_phrases,
    hunt_prompt,
    plural,
    say_objects,
    with_article,
)
from inference.labels.themes import COLOURS, load_theme, theme_names
from tests.support.coco import COCO_CLASSES

SHIPPED = ("en", "es", "fr")
TRANSLATED = ("es", "fr")

# Theme word -> (French with article, French plural, Spanish with article, Spanish plural).
THEME_WORDS = {
    # animals
    "cat": ("un chat", "chats", "un gato", "gatos"),
    "dog": ("un chien", "chiens", "un perro", "perros"),
    "bird": ("un oiseau", "oiseaux", "un pájaro", "pájaros"),
    "fish": ("un poisson", "poissons", "un pez", "peces"),
    "rabbit": ("un lapin", "lapins", "un conejo", "conejos"),
    "mouse": ("une souris", "souris", "un ratón", "ratones"),
    "horse": ("un cheval", "chevaux", "un caballo", "caballos"),
    "cow": ("une vache", "vaches", "una vaca", "vacas"),
    "sheep": ("un mouton", "moutons", "una oveja", "ovejas"),
    "pig": ("un cochon", "cochons", "un cerdo", "cerdos"),
    "duck": ("un canard", "canards", "un pato", "patos"),
    "chicken": ("une poule", "poules", "una gallina", "gallinas"),
    "elephant": ("un éléphant", "éléphants", "un elefante", "elefantes"),
    "giraffe": ("une girafe", "girafes", "una jirafa", "jirafas"),
    "zebra": ("un zèbre", "zèbres", "una cebra", "cebras"),
    "lion": ("un lion", "lions", "un león", "leones"),
    "tiger": ("un tigre", "tigres", "un tigre", "tigres"),
    "bear": ("un ours", "ours", "un oso", "osos"),
    "monkey": ("un singe", "singes", "un mono", "monos"),
    # classroom
    "book": ("un livre", "livres", "un libro", "libros"),
    "notebook": ("un cahier", "cahiers", "un cuaderno", "cuadernos"),
    "pencil": ("un crayon", "crayons", "un lápiz", "lápices"),
    "pen": ("un stylo", "stylos", "un bolígrafo", "bolígrafos"),
    "crayon": ("un crayon de cire", "crayons de cire", "un crayón", "crayones"),
    "scissors": ("une paire de ciseaux", "paires de ciseaux", "una tijera", "tijeras"),
    "ruler": ("une règle", "règles", "una regla", "reglas"),
    "eraser": ("une gomme", "gommes", "una goma", "gomas"),
    "glue stick": (
        "un bâton de colle", "bâtons de colle", "una barra de pegamento", "barras de pegamento"
    ),
    "backpack": ("un sac à dos", "sacs à dos", "una mochila", "mochilas"),
    "chair": ("une chaise", "chaises", "una silla", "sillas"),
    "desk": ("un bureau", "bureaux", "un pupitre", "pupitres"),
    "clock": ("une horloge", "horloges", "un reloj", "relojes"),
    "laptop": ("un ordinateur", "ordinateurs", "un ordenador", "ordenadores"),
    "globe": ("un globe", "globes", "un globo terráqueo", "globos terráqueos"),
    "whiteboard": ("un tableau blanc", "tableaux blancs", "una pizarra", "pizarras"),
    # fruit
    "apple": ("une pomme", "pommes", "una manzana", "manzanas"),
    "banana": ("une banane", "bananes", "un plátano", "plátanos"),
    "orange": ("une orange", "oranges", "una naranja", "naranjas"),
    "strawberry": ("une fraise", "fraises", "una fresa", "fresas"),
    "grapes": ("du raisin", "grappes de raisin", "un racimo de uvas", "racimos de uvas"),
    "pear": ("une poire", "poires", "una pera", "peras"),
    "lemon": ("un citron", "citrons", "un limón", "limones"),
    "watermelon": ("une pastèque", "pastèques", "una sandía", "sandías"),
    "pineapple": ("un ananas", "ananas", "una piña", "piñas"),
    "cherry": ("une cerise", "cerises", "una cereza", "cerezas"),
    "peach": ("une pêche", "pêches", "un melocotón", "melocotones"),
    "kiwi": ("un kiwi", "kiwis", "un kiwi", "kiwis"),
    "mango": ("une mangue", "mangues", "un mango", "mangos"),
    "blueberry": ("une myrtille", "myrtilles", "un arándano", "arándanos"),
    # kitchen
    "cup": ("une tasse", "tasses", "una taza", "tazas"),
    "mug": ("un mug", "mugs", "un tazón", "tazones"),
    "bowl": ("un bol", "bols", "un cuenco", "cuencos"),
    "plate": ("une assiette", "assiettes", "un plato", "platos"),
    "spoon": ("une cuillère", "cuillères", "una cuchara", "cucharas"),
    "fork": ("une fourchette", "fourchettes", "un tenedor", "tenedores"),
    "knife": ("un couteau", "couteaux", "un cuchillo", "cuchillos"),
    "bottle": ("une bouteille", "bouteilles", "una botella", "botellas"),
    "drinking glass": ("un verre", "verres", "un vaso", "vasos"),
    "frying pan": ("une poêle", "poêles", "una sartén", "sartenes"),
    "cooking pot": ("une casserole", "casseroles", "una olla", "ollas"),
    "kettle": ("une bouilloire", "bouilloires", "una tetera", "teteras"),
    "toaster": ("un grille-pain", "grille-pain", "una tostadora", "tostadoras"),
    "microwave": ("un micro-ondes", "micro-ondes", "un microondas", "microondas"),
    "oven": ("un four", "fours", "un horno", "hornos"),
    "refrigerator": ("un frigo", "frigos", "una nevera", "neveras"),
    "sink": ("un évier", "éviers", "un fregadero", "fregaderos"),
    "dining table": ("une table", "tables", "una mesa", "mesas"),
    # toys
    "ball": ("un ballon", "ballons", "una pelota", "pelotas"),
    "teddy bear": ("un nounours", "nounours", "un osito de peluche", "ositos de peluche"),
    "doll": ("une poupée", "poupées", "una muñeca", "muñecas"),
    "kite": ("un cerf-volant", "cerfs-volants", "una cometa", "cometas"),
    "toy car": (
        "une petite voiture", "petites voitures", "un coche de juguete", "coches de juguete"
    ),
    "toy train": ("un petit train", "petits trains", "un tren de juguete", "trenes de juguete"),
    "toy block": ("un cube", "cubes", "un bloque", "bloques"),
    "puzzle": ("un puzzle", "puzzles", "un puzle", "puzles"),
    "rubber duck": ("un canard de bain", "canards de bain", "un patito de goma", "patitos de goma"),
    "balloon": ("un ballon de baudruche", "ballons de baudruche", "un globo", "globos"),
    "robot": ("un robot", "robots", "un robot", "robots"),
    "dinosaur": ("un dinosaure", "dinosaures", "un dinosaurio", "dinosaurios"),
    "frisbee": ("un frisbee", "frisbees", "un frisbi", "frisbis"),
    "drum": ("un tambour", "tambours", "un tambor", "tambores"),
    "spinning top": ("une toupie", "toupies", "una peonza", "peonzas"),
}  # fmt: skip


def _theme_words() -> set[str]:
    return {word for name in theme_names() for word in load_theme(name).words}


def test_the_review_sheet_lists_every_theme_word() -> None:
    assert set(THEME_WORDS) == _theme_words()


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_theme_word_is_translated(code: str) -> None:
    language = load_language(code)
    assert language.complete, "a language that names every theme word says so"
    spoken = set(language.names.values())
    untranslated = sorted(
        word for word in _theme_words() if friendly_name(word, code) not in spoken
    )
    assert untranslated == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_theme_word_states_its_article(code: str) -> None:
    """Masculine is the default, but a noun missing from `nouns` is more often a forgotten
    feminine than a masculine; so every theme word states its gender (or its own article)."""
    language = load_language(code)
    missing = []
    for word in _theme_words():
        noun = language.nouns.get(friendly_name(word, code).lower())
        if noun is None or (noun.gender is None and noun.article is None):
            missing.append(word)
    assert sorted(missing) == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_coco_classes_are_translated(code: str) -> None:
    language = load_language(code)
    missing = sorted(
        word
        for word in COCO_CLASSES
        if word not in language.names and friendly_name(word, "en").lower() not in language.names
    )
    assert missing == []


@pytest.mark.parametrize(("word", "forms"), sorted(THEME_WORDS.items()))
def test_theme_word_article_and_plural(word: str, forms: tuple[str, str, str, str]) -> None:
    french, french_plural, spanish, spanish_plural = forms
    for code, expected, expected_plural in (
        ("fr", french, french_plural),
        ("es", spanish, spanish_plural),
    ):
        name = friendly_name(word, code)
        assert with_article(name, code) == expected, code
        assert plural(name, code) == expected_plural, code


@pytest.mark.parametrize("code", SHIPPED)
def test_page_words_have_the_same_keys_in_every_language(code: str) -> None:
    english = load_language("en").page_words
    words = load_language(code).page_words
    assert set(words) == set(english)
    assert {"find_it", "skip", "stop", "next", "say_again", "loading", "language"} <= set(words)
    for key, text in words.items():
        assert text and text == text.strip() and "<" not in text, key
    if code != "en":
        same = sorted(key for key in words if words[key] == english[key])
        assert same == [], f"{code} page words left in English"


def test_page_words_are_read_only() -> None:
    words = load_language("fr").page_words
    with pytest.raises(TypeError):
        words["skip"] = "x"  # type: ignore[index]
    assert words["skip"] == "Passer"


@pytest.mark.parametrize("code", SHIPPED)
def test_every_theme_has_a_title(code: str) -> None:
    titles = load_language(code).theme_titles
    assert set(theme_names()) <= set(titles)
    if code == "en":
        assert all(titles[name] == load_theme(name).title for name in theme_names())


def test_every_shipped_language_is_listed() -> None:
    assert set(SHIPPED) <= set(available_languages())
    assert load_language("es").name == "Español"
    assert "review" in load_language("es").status


# --------------------------------------------------------------------------- sentences


@pytest.mark.parametrize(
    ("code", "objects", "expected"),
    [
        ("fr", [("strawberry", 0.9)], "C'est une fraise\u00a0!"),
        ("fr", [("banana", 0.4)], "Je crois que c'est une banane."),
        ("fr", [("horse", 0.9), ("horse", 0.8)], "Je vois deux chevaux\u00a0!"),
        ("fr", [("grapes", 0.9)], "C'est du raisin\u00a0!"),
        ("es", [("banana", 0.9)], "¡Es un plátano!"),
        ("es", [("strawberry", 0.9)], "¡Es una fresa!"),
        ("es", [("banana", 0.4)], "Creo que es un plátano."),
        ("es", [("banana", 0.2)], "¿Es un plátano?"),
        ("es", [("mouse", 0.9), ("mouse", 0.9), ("cat", 0.8)], "¡Veo dos ratones y un gato!"),
        ("es", [("fish", 0.9)] * 3, "¡Veo tres peces!"),
        ("es", [("grapes", 0.9)], "¡Es un racimo de uvas!"),
        ("es", [("cell phone", 0.9)], "¡Es un teléfono!"),  # via English "phone"
        (
            "es",
            [("cat", 0.9), ("dog", 0.9), ("cup", 0.9), ("spoon", 0.5)],
            "¡Veo un gato, un perro, una taza y más cosas!",
        ),
        ("es", [("gizmo", 0.9)], "¡Es un gizmo!"),  # unknown words pass through
    ],
)
def test_sentences(code: str, objects: list[tuple[str, float]], expected: str) -> None:
    assert say_objects(objects, code) == expected


HUNT = [
    (
        "en",
        "strawberry",
        "Can you find a strawberry?",
        "You found a strawberry!",
        "It starts with S.",
    ),
    ("en", "apple", "Can you find an apple?", "You found an apple!", "It starts with A."),
    (
        "en",
        "scissors",
        "Can you find a pair of scissors?",
        "You found a pair of scissors!",
        "It starts with S.",
    ),
    (
        "fr",
        "strawberry",
        "Tu peux trouver une fraise\u00a0?",
        "Tu as trouvé une fraise\u00a0!",
        "Ça commence par F.",
    ),
    (
        "fr",
        "elephant",
        "Tu peux trouver un éléphant\u00a0?",
        "Tu as trouvé un éléphant\u00a0!",
        "Ça commence par É.",
    ),
    ("es", "banana", "¿Puedes encontrar un plátano?", "¡Encontraste un plátano!", "Empieza por P."),
    (
        "es",
        "strawberry",
        "¿Puedes encontrar una fresa?",
        "¡Encontraste una fresa!",
        "Empieza por F.",
    ),
    (
        "es",
        "frying pan",
        "¿Puedes encontrar una sartén?",
        "¡Encontraste una sartén!",
        "Empieza por S.",
    ),
]


@pytest.mark.parametrize(("code", "word", "hunt", "found", "hint"), HUNT)
def test_hunt_game_phrases(code: str, word: str, hunt: str, found: str, hint: str) -> None:
    name = friendly_name(word, code)
    assert hunt_prompt(name, code) == hunt
    assert found_phrase(name, code) == found
    assert first_letter_hint(name, code) == hint


@pytest.mark.parametrize(
    ("code", "name", "n", "expected"),
    [
        ("fr", "fraise", 3, "trois fraises"),
        ("fr", "cheval", 12, "douze chevaux"),
        ("fr", "fraise", 13, "13 fraises"),
        ("es", "plátano", 2, "dos plátanos"),
        ("es", "lápiz", 4, "cuatro lápices"),
        ("es", "ratón", 5, "cinco ratones"),
        ("es", "tren de juguete", 2, "dos trenes de juguete"),
        ("es", "microondas", 2, "dos microondas"),
        ("es", "plátano", 20, "20 plátanos"),
    ],
)
def test_counts(code: str, name: str, n: int, expected: str) -> None:
    assert count_phrase(name, n, code) == expected


@pytest.mark.parametrize("text", ["", "   ", "<b></b>", None, 7])
def test_hunt_game_phrases_of_nothing_are_empty(text: object) -> None:
    for code in SHIPPED:
        assert hunt_prompt(text, code) == ""  # type: ignore[arg-type]
        assert found_phrase(text, code) == ""  # type: ignore[arg-type]
        assert first_letter_hint(text, code) == ""  # type: ignore[arg-type]
        assert first_letter(text, code) == ""  # type: ignore[arg-type]


def test_a_name_without_letters_has_no_hint() -> None:
    assert first_letter("7up", "en") == "U"
    assert first_letter("123", "en") == ""
    assert first_letter_hint("123", "en") == ""


def test_hunt_game_phrases_sanitise_their_input() -> None:
    assert hunt_prompt("<script>x</script>cat {thing}", "en") == "Can you find a cat thing?"
    assert len(hunt_prompt("x" * 5000, "es")) <= load_language("es").max_sentence_chars


def test_hunt_phrases_start_from_the_detector_word() -> None:
    assert hunt_phrases("frying pan", "fr") == HuntPhrases(
        word="frying pan",
        name="poêle",
        prompt="Tu peux trouver une poêle\u00a0?",
        found="Tu as trouvé une poêle\u00a0!",
        hint="Ça commence par P.",
        colour_hint="",  # a pan has no colour a child expects
    )
    assert hunt_phrases("Cell_Phone", "es").prompt == "¿Puedes encontrar un teléfono?"
    assert hunt_phrases("<b></b>", "en") == HuntPhrases("", "", "", "", "", "")


@pytest.mark.parametrize(
    ("word", "language", "hint"),
    [
        ("banana", "en", "It is yellow."),
        ("banana", "fr", "C'est jaune."),
        ("banana", "es", "Es de color amarillo."),
        ("strawberry", "fr", "C'est rouge."),
        ("blueberry", "es", "Es de color azul."),
        ("cup", "en", ""),
    ],
)
def test_a_theme_word_with_a_colour_gets_a_colour_hint(word: str, language: str, hint: str) -> None:
    assert hunt_phrases(word, language).colour_hint == hint


def test_every_colour_a_theme_uses_is_named_in_every_language() -> None:
    used = {colour for name in theme_names() for colour in load_theme(name).colours.values()}
    assert used, "the fruit theme gives its words colours"
    for code in available_languages():
        language = load_language(code)
        assert set(COLOURS) <= set(language.colours), code
        assert all(language.colours[c].strip() for c in COLOURS), code
