'use strict';
// sagactl participant SDK for Node: serve a saga's commands over Kafka (docs/protocol.md).
const { Reply, ProtocolError, header } = require('./protocol');
const { ParticipantCore, MemoryReplyLog, FileReplyLog } = require('./core');
const { Participant } = require('./kafka');

module.exports = { Participant, Reply, ProtocolError, ParticipantCore, MemoryReplyLog, FileReplyLog, header };
