"""What keys the grading's random choices: the course's secret, the source notebook and the seed.

The same three give the same challenges and the same artifact-check key (a regrade is deterministic);
another secret, source or seed gives others (students cannot know them in advance)."""
import pytest

from autograder import assignments, challenges

SOURCE = "0" * 64


@pytest.mark.parametrize("name", assignments.names())
def test_challenges_depend_on_the_secret_the_source_and_the_seed_only(name):
    assignment = assignments.get(name)
    secret = b"s" * challenges.SECRET_BYTES
    first = challenges.draw(assignment, secret, SOURCE, 0)
    assert challenges.draw(assignment, secret, SOURCE, 0) == first
    for other in (challenges.draw(assignment, b"t" * challenges.SECRET_BYTES, SOURCE, 0),
                  challenges.draw(assignment, secret, "1" * 64, 0),
                  challenges.draw(assignment, secret, SOURCE, 1)):
        assert [s["name"] for s in other] == [s["name"] for s in first]  # the same checks ...
        assert other != first                                              # ... on other inputs


def test_the_artifact_checks_key_is_secret_and_repeatable():
    assignment = assignments.get(assignments.names()[0])
    secret = b"s" * challenges.SECRET_BYTES
    key = challenges.grading_key(assignment, secret, SOURCE, 0)
    assert key == challenges.grading_key(assignment, secret, SOURCE, 0) and len(key) == 32
    others = {challenges.grading_key(assignment, b"t" * challenges.SECRET_BYTES, SOURCE, 0),
              challenges.grading_key(assignment, secret, "1" * 64, 0),
              challenges.grading_key(assignment, secret, SOURCE, 1)}
    assert key not in others and len(others) == 3
