"""What people see of a job's arguments (monitor/redact.py): values under secret-looking names are
masked at any depth, positional arguments by the parameter they bind to; the rest is shown as is,
and the job keeps the real values."""
import pytest

from localq.monitor.redact import MASK, looks_secret, mask_arguments, mask_value


@pytest.mark.parametrize('name', [
    'password', 'PASSWORD', 'db_password', 'passwd', 'passphrase', 'pass', 'secret', 'client_secret',
    'token', 'card_token', 'refresh_token', 'api_key', 'apiKey', 'API-KEY', 'x-api-key', 'apikey',
    'private_key', 'private-key', 'access_key', 'aws_access_key', 'credentials', 'auth', 'authorization',
    'session_id', 'sessionid', 'cookie', 'pin', 'PIN', 'cvv', 'ssn', 'db_pass', 'dbPassword', 'authToken',
    'APIKey', 'sessionId', 'X-Auth-Token',
])
def test_names_that_look_secret(name):
    assert looks_secret(name)


@pytest.mark.parametrize('name', [
    'user', 'email', 'amount', 'path', 'spin', 'pinned', 'ssn_last_digits_count_ok', 'cvv2_hint', 'key',
    'id', '', None, 42, b'password', 'author', 'authority', 'bypass', 'compass', 'passenger_count', 'keyboard',
    'session', 'tokenizer',
])
def test_names_that_do_not_look_secret(name):
    assert not looks_secret(name)


def test_secret_keys_are_masked_at_any_depth_in_dicts_and_lists():
    value = {'user': 'ada', 'password': 'hunter2',
             'accounts': [{'bank': 'x', 'api_key': 'k-1'}, {'nested': {'token': 't', 'n': 1}}]}
    assert mask_value(value) == {'user': 'ada', 'password': MASK,
                                 'accounts': [{'bank': 'x', 'api_key': MASK}, {'nested': {'token': MASK, 'n': 1}}]}


def test_a_secret_keys_whole_value_is_masked_even_when_it_is_a_dict_or_list():
    assert mask_value({'credentials': {'user': 'u', 'pw': 'p'}, 'tokens': ['a', 'b']}) == {
        'credentials': MASK, 'tokens': MASK}


def test_an_empty_secret_is_shown_empty_so_people_see_it_was_not_given():
    assert mask_value({'password': None}) == {'password': None}
    assert mask_value({'password': ''}) == {'password': MASK}


@pytest.mark.parametrize('value', [None, 3, 'password', ['password', 1], [[{'n': 1}]]])
def test_values_without_secret_keys_are_shown_unchanged(value):
    assert mask_value(value) == value


def test_masking_copies_and_leaves_the_real_values_alone():
    value = {'password': 'hunter2', 'items': [{'token': 't'}]}
    mask_value(value)
    assert value == {'password': 'hunter2', 'items': [{'token': 't'}]}


def charge(card_token, amount, note=None, **options):
    pass


def test_a_positional_argument_is_masked_by_the_name_of_its_parameter():
    args, kwargs = mask_arguments(charge, ['tok_123', 5, {'api_key': 'k', 'memo': 'm'}], {'password': 'p', 'x': 1})
    assert args == [MASK, 5, {'api_key': MASK, 'memo': 'm'}]
    assert kwargs == {'password': MASK, 'x': 1}


def test_a_bound_tasks_self_is_not_counted_among_its_parameters():
    def bound(self, user, secret):
        pass
    assert mask_arguments(bound, ['ada', 's3cr3t'], {}, bound=True)[0] == ['ada', MASK]
    assert mask_arguments(bound, ['ada', 's3cr3t'], {}, bound=False)[0] == ['ada', 's3cr3t']


def test_positional_only_parameters_count_and_star_args_do_not():
    def f(a, /, token, *rest, password=None):
        pass
    assert mask_arguments(f, [1, 'tok', 'extra-1', 'extra-2'], {'password': 'x'}) == (
        [1, MASK, 'extra-1', 'extra-2'], {'password': MASK})


@pytest.mark.parametrize('func', [None, len, lambda *args: None])
def test_without_named_parameters_only_dict_keys_are_masked(func):
    assert mask_arguments(func, ['tok_123', {'token': 't'}], None) == (['tok_123', {'token': MASK}], {})


def test_missing_arguments_are_shown_as_empty():
    assert mask_arguments(charge, None, None) == ([], {})
