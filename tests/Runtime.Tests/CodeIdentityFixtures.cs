namespace IwSft.Runtime.Tests.CodeFixtures;

// Small types whose only link to a root is one kind of reference, so that what CodeIdentity.Reach lists shows
// which references it follows. Each "Only..." type is named by nothing but the reference the test is about.

public sealed class OnlyAsGenericArgument { public int M() => 1; }
public sealed class OnlyAsArrayElement { public int M() => 2; }
public sealed class OnlyByTypeof { public int M() => 3; }
public sealed class OnlyAsOwnerArgument { public int M() => 4; }
public sealed class OnlyAsStaticFieldOwnerArgument { public int M() => 5; }
public sealed class OnlyAsMethodArgument { public int M() => 6; }
public sealed class OnlyAsLocal { public int M() => 7; }

public static class StaticHolder<T> { public static int Count; }
public static class GenericOwner<T> { public static int Touch() => 8; }
public static class GenericUse { public static int Use<T>() => typeof(T).Name.Length; }

public static class OnlyFromVirtual { public static string Name() => "v"; }
public sealed class Instantiated { public override string ToString() => OnlyFromVirtual.Name(); }

public static class OnlyFromCtor { public static int Value() => 10; }
public sealed class CtorCallsHelper { public readonly int Value = OnlyFromCtor.Value(); }

public static class OnlyFromCctor { public static int Value() => 11; }
public static class WithStaticInitializer { public static readonly int X = OnlyFromCctor.Value(); }

public static class OnlyFromNested { public static int Value() => 12; }
public class Outer
{
    public int M() => 0;
    sealed class PrivateNested { public int N() => OnlyFromNested.Value(); }
    public sealed class PublicNested { public int N() => 13; }
}

// Types that refer back to themselves through a base type: reaching them must terminate.
public class GenericBase<T> { public int Base() => 14; }
public sealed class SelfReferencing : GenericBase<SelfReferencing> { public int Own() => 15; }
public class OuterWithDerivedNested { public int M() => 16; public sealed class Inner : OuterWithDerivedNested { public int N() => 17; } }

public sealed class Box<T> { public T? Value; public T? Get() => Value; }

public static class OnlyFromAsync { public static int Value() => 18; }
public static class AsyncOwner
{
    public static async Task<int> Run() { await Task.Yield(); return OnlyFromAsync.Value(); }
}

public static class Lambdas
{
    public static Func<int, int> First() => x => x + 1;
    public static Func<int, int> Second() => x => x * 2;
}

public static class Roots
{
    public static Type GenericArgument() => typeof(List<OnlyAsGenericArgument>);
    public static Type ArrayElement() => typeof(OnlyAsArrayElement[]);
    public static Type Typeof() => typeof(OnlyByTypeof);
    public static int OwnerArgument() => GenericOwner<OnlyAsOwnerArgument>.Touch();
    public static int StaticFieldOwnerArgument() => StaticHolder<OnlyAsStaticFieldOwnerArgument>.Count;
    public static int MethodArgument() => GenericUse.Use<OnlyAsMethodArgument>();
    public static int OpenGenericMethod<T>() => GenericUse.Use<T>();
    public static string? Virtual() { object o = new Instantiated(); return o.ToString(); }
    public static int BoxGet() => new Box<int>().Get();
    public static int Unrelated() => 19;
}
