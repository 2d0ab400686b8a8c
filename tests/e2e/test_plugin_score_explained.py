"""A score a plugin gives (``cosell_score``) is explained as that plugin's: ``cosell explain`` and the
statements name the plugin and show the score's ``parts`` when it gives them, never the program's
scoring section, which did not compute it."""

from decimal import Decimal

from cosell import hookimpl
from cosell.results import Score, ScorePart
from cosell.testing import CosellCli


class Strategic:
    """A fixed score for P005; for P001, a score of its own with the parts it came from."""

    @hookimpl(tryfirst=True)
    def cosell_score(self, partner, metrics, context):
        if partner.id == "P005":
            return Score(Decimal(75))
        if partner.id == "P001":
            part = ScorePart("certified_engineers", Decimal(6), Decimal(8), Decimal(1), Decimal("0.75"))
            return Score(Decimal(75), (part,))
        return None


def flat(text):
    return " ".join(text.split())


def test_explain_names_the_plugin_that_gave_the_score_and_shows_its_parts(work):
    cli = CosellCli(work, {"strategic": Strategic()})
    explained = cli.explain("P005")
    assert explained.exit_code == 0, explained.stderr
    text = flat(explained.stdout)
    assert "score = 75.00, given by plugin strategic" in text
    assert "no scoring section" not in text

    with_parts = flat(cli.explain("P001").stdout)
    assert "score = 75.00, given by plugin strategic" in with_parts
    assert "certified_engineers" in with_parts and "0.75" in with_parts
    assert "score = 100 ×" not in with_parts  # the program's formula did not give it


def test_the_statements_of_a_run_name_the_plugin_that_gave_the_score(work):
    cli = CosellCli(work, {"strategic": Strategic()})
    assert cli.run().exit_code == 0
    terminal = flat(cli.statement("--partner", "P005", "--format", "terminal").stdout)
    assert "score = 75.00, given by plugin strategic" in terminal and "no scoring section" not in terminal
    html = cli.statement("--partner", "P005", "--format", "html").stdout
    assert "score = 75.00, given by plugin strategic" in html and "no scoring section" not in html
    builtin = flat(cli.statement("--partner", "P002", "--format", "terminal").stdout)
    assert "score = 100 ×" in builtin and "given by plugin" not in builtin
