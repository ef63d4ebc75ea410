"""Notifications: who hears about which alert, over which channel, when, and in which words.

- :mod:`services.notify.contacts`: contacts, their channels and subscriptions, within a caller's scope;
- :mod:`services.notify.policy`: urgency, quiet hours (WIB), escalation, reminders, the morning digest
  and the daily cap, as data and pure functions of a clock;
- :mod:`services.notify.messages`: the words, in Bahasa Indonesia and English;
- :mod:`services.notify.channels`: a contact's channel as an Apprise URL, with the credentials from
  settings (:class:`ChannelSettings`); Apprise delivers;
- :mod:`services.notify.outbox`: the durable outbox: messages written in the transaction of the alert
  change that causes them, and the :class:`~services.notify.outbox.Sender` that delivers them with
  retries and marks each one sent or failed;
- :mod:`services.notify.signin`: the field page's personal links and one-time codes.

Errors are :class:`services.InvalidInput` (a contact, channel or subscription the caller may not make,
or that cannot work) and :class:`services.notify.contacts.OutOfScope`.
"""
