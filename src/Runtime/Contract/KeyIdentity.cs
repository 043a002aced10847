using System.Text.Json.Nodes;

namespace IwSft.Runtime;

/// <summary>
/// A stage field whose value decides the stage's outputs (an injected prompt formatter, generator options,
/// a rule list): the engine puts its identity into the cache key. Every instance field of a stage kind
/// carries either this or <see cref="NotInKeyAttribute"/>; a test enforces it, so injected behaviour
/// cannot silently stay out of the key. The value's identity is: simple values as they are; delegates
/// as their method's code identity plus captured values; <see cref="IKeyIdentity"/> objects as they
/// describe themselves; collections element by element. Objects of IwSft types also contribute the code
/// identity of their runtime type.
/// </summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class InKeyAttribute : Attribute
{
    /// <summary>
    /// A null value adds nothing to the key (instead of a null entry): an optional behaviour injected into a stage
    /// kind later leaves the keys of stages built without it, and their memoised records, as they were.
    /// </summary>
    public bool OmitWhenNull { get; init; }
}

/// <summary>A stage field that does not decide outputs (a cache, a port list derived from configuration); the reason is required.</summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class NotInKeyAttribute(string reason) : Attribute
{
    public string Reason { get; } = reason;
}

/// <summary>An injected object that states which of its settings decide results (not its device, batch size or caches).</summary>
public interface IKeyIdentity
{
    JsonNode? KeyIdentity();
}

/// <summary>
/// A deliberate refactor that keeps a stage kind's semantics: while the computed code identity is
/// <paramref name="computed"/> (the first 12 or more hex characters), the key uses <paramref name="keep"/> instead,
/// so cached outputs stay valid. Any further change to the code no longer matches and invalidates as usual.
/// The manifest records when an alias applied, with the reason.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class CodeIdentityAliasAttribute(string computed, string keep, string reason) : Attribute
{
    public string Computed { get; } = computed;
    public string Keep { get; } = keep;
    public string Reason { get; } = reason;
}
